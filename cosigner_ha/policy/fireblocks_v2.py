"""The current Fireblocks policy engine's rule (`PolicyRule`, `policyEngineVersion: "v2"`) into the one model.

Field names and enum values are the official SDK's (`fireblocks` 35.x: `PolicyRule`, `InitiatorConfig`,
`SourceConfig`, `DestinationConfig`, `AccountIdentifier`, `AccountType2`, `VerdictConfig`,
`ApproversConfig`, `DesignatedSignersConfig`, `AmountConfig`, `AmountOverTimeConfig`, `TimePeriodConfig`).
What this engine cannot honour (screening and order policies, tags, NFT matching, contract methods,
addresses, fbAdminGroups, ...) is refused by name and key path: a rule silently read narrower or wider
than written would decide transactions differently from Fireblocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .directory import Directory
from .model import (
    LOGICS,
    PEER_SUBTYPES,
    AmountRange,
    ApproverGroup,
    Approvers,
    Initiators,
    PeerPattern,
    Rule,
    Signers,
    Window,
)
from .reading import RuleReader, describe

REQUIRED = ("id", "name", "policyEngineVersion", "type", "initiator", "source", "verdict")
KEYS = (
    *REQUIRED,
    "subType",
    "asset",
    "destination",
    "account",
    "side",
    "amountOverTime",
    "amount",
    "externalDescriptor",
    "method",
    "isGlobalPolicy",
    "programCall",
    "screeningMetadata",
    "quoteAsset",
    "baseAsset",
    "quoteAmount",
    "baseAmount",
    "dAppAddress",
    "derivationPath",
    "index",
)
#: keys that tell a v2 rule apart from a v1 one (`type`, `asset`, `amount` are in both)
OWN_KEYS = frozenset({"policyEngineVersion", "verdict", "amountOverTime"})
#: PolicyType values that are transaction operations this engine decides
TYPES = (
    "TRANSFER",
    "STAKE",
    "CONTRACT_CALL",
    "TYPED_MESSAGE",
    "APPROVE",
    "MINT",
    "BURN",
    "RAW",
    "PROGRAM_CALL",
)
OTHER_TYPES = (
    "COMPLIANCE",
    "DEPLOYMENT",
    "DAPP_CONNECTION",
    "UPGRADE",
    "ORDER",
    "AML_CHAINALYSIS_V2_SCREENING",
    "AML_CHAINALYSIS_V2_POST_SCREENING",
    "AML_ELLIPTIC_HOLISTIC_SCREENING",
    "AML_ELLIPTIC_HOLISTIC_POST_SCREENING",
    "TR_NOTABENE_SCREENING",
    "TR_NOTABENE_POST_SCREENING",
)
#: AccountType2 -> the peer pattern it stands for; None: any account
ACCOUNT_TYPES: dict[str, PeerPattern | None] = {
    "*": None,
    "ANY": None,
    "VAULT": PeerPattern("VAULT"),
    "EXCHANGE": PeerPattern("EXCHANGE"),
    "FIAT_ACCOUNT": PeerPattern("FIAT_ACCOUNT"),
    "UNMANAGED": PeerPattern("UNMANAGED"),
    "INTERNAL": PeerPattern("UNMANAGED", subtype="INTERNAL"),
    "EXTERNAL": PeerPattern("UNMANAGED", subtype="EXTERNAL"),
    "CONTRACT": PeerPattern("UNMANAGED", subtype="CONTRACT"),
    "NETWORK_CONNECTION": PeerPattern("NETWORK_CONNECTION"),
    "ONE_TIME_ADDRESS": PeerPattern("ONE_TIME_ADDRESS"),
}
UNSUPPORTED_ACCOUNT_TYPES = (
    "GLOBAL_WHITELIST",
    "CONNECTED_ACCOUNT",
    "SRC_DST_NA",
    "MULTIPLE_VENUES",
    "END_USER_WALLET",
    "OEC_PARTNER",
    "DAPP_CONNECTION",
    "UNKNOWN",
)
VERDICTS = ("ALLOW", "BLOCK", "2-TIER")
OTHER_VERDICTS = ("ACCEPT", "REJECT", "ALERT", "SCREEN", "PASS", "WAIT", "FREEZE", "CANCEL")
CURRENCIES = ("USD", "EUR", "NATIVE")
MATCH_TYPES = ("PER_SINGLE_MATCH", "ACROSS_ALL_MATCHES")
_ADDRESS_TYPES = {"WHITELISTED": "whitelisted", "ONE_TIME": "one-time", "*": None}
#: Fields for other policy types (orders, program calls, dApps, screening) or matching this engine lacks
_NOT_HONOURED = {
    "subType": "policy sub-types belong to screening policies",
    "account": "account matching belongs to ORDER policies",
    "side": "order sides belong to ORDER policies",
    "method": "simulated contract calls carry no method to match",
    "programCall": "simulated program calls carry no program to match",
    "screeningMetadata": "screening policies are not simulated",
    "quoteAsset": "ORDER policies are not simulated",
    "baseAsset": "ORDER policies are not simulated",
    "quoteAmount": "ORDER policies are not simulated",
    "baseAmount": "ORDER policies are not simulated",
    "dAppAddress": "dApp connections are not simulated",
    "derivationPath": "simulated transactions carry no derivation path to match",
}


def _present(rule: Mapping[str, Any], key: str) -> bool:
    value = rule.get(key)
    return value is not None and value != [] and value != {}


def load_v2_rule(raw: object, index: int, origin: str, directory: Directory) -> Rule:
    r = RuleReader(origin, index, directory)
    given = r.table(raw, "", KEYS)
    rule = {k: v for k, v in given.items() if v is not None}  # the SDK's to_dict leaves unset fields out
    missing = tuple(k for k in REQUIRED if k not in rule)
    if "policyEngineVersion" in rule:
        r.choice(rule["policyEngineVersion"], "policyEngineVersion", ("v2",))
    for key, why in _NOT_HONOURED.items():
        if _present(rule, key):
            r.refuse(key, key, why)
    if rule.get("isGlobalPolicy") is True:
        r.refuse("isGlobalPolicy", "isGlobalPolicy = true", "global policies are not simulated")
    operations = None
    if "type" in rule:
        kind = rule["type"]
        if kind in OTHER_TYPES:
            r.refuse("type", f"policy type {kind}", "only transaction types are decided here")
        operations = (r.choice(kind, "type", TYPES),)
    verdict = r.table(rule.get("verdict", {}), "verdict", ("action", "approvers", "designatedSigners"))
    action = None
    if "action" in verdict:
        if verdict["action"] in OTHER_VERDICTS:
            r.refuse(
                "verdict.action", f"verdict {verdict['action']}", "the engine decides ALLOW, BLOCK, 2-TIER"
            )
        action = r.choice(verdict["action"], "verdict.action", VERDICTS)
    elif "verdict" in rule:
        missing = (*missing, "verdict.action")
    amount, window = _amounts(r, rule)
    destination, address = _destination(r, rule.get("destination"))
    return Rule(
        index=index,
        form="v2",
        action=action,
        operations=operations,
        asset=_asset(r, rule.get("asset")),
        initiators=_initiator(r, rule.get("initiator", "*")),
        source=_peers(
            r, rule.get("source"), "source", ("type", "subType", "ids", "tags", "operator", "matchFrom")
        ),
        destination=destination,
        address_type=address,
        amount=amount,
        window=window,
        approvers=_approvers(r, verdict.get("approvers")),
        signers=_signers(r, verdict.get("designatedSigners")),
        description=r.string(rule["name"], "name") if "name" in rule else None,
        missing=missing,
        rule_id=r.string(rule["id"], "id") if "id" in rule else None,
    )


def _initiator(r: RuleReader, value: object) -> Initiators:
    if isinstance(value, str):
        r.choice(value, "initiator", ("*",))
        return Initiators()
    keys = ("users", "groups", "services", "fbAdminGroups", "exchange", "operator")
    table = r.table(value, "initiator", keys)
    for key in ("fbAdminGroups", "exchange"):
        if table.get(key):
            r.refuse(f"initiator.{key}", f"initiator.{key}", "only users, groups and services initiate here")
    if "operator" in table and table["operator"] is not None:
        r.choice(table["operator"], "initiator.operator", ("INCLUDES",))
    users = tuple(r.user(u) for u in r.strings(table.get("users") or [], "initiator.users"))
    groups = tuple(r.group(g) for g in r.strings(table.get("groups") or [], "initiator.groups"))
    services = r.strings(table.get("services") or [], "initiator.services")
    return Initiators(
        wildcard=not (users or groups or services), users=users, groups=groups, services=services
    )


def _asset(r: RuleReader, value: object) -> str | None:
    """`assetTypes` read as asset ids (`"*"` any); one asset per rule, as the model matches."""
    if value is None:
        return None
    table = r.table(value, "asset", ("nftTransfer", "assetTypes", "operator"))
    if r.boolean(table.get("nftTransfer", False), "asset.nftTransfer"):
        r.refuse("asset.nftTransfer", "nftTransfer = true", "simulated transactions carry no NFTs")
    if table.get("operator") is not None:
        r.choice(table["operator"], "asset.operator", ("INCLUDES",))
    assets = r.strings(table.get("assetTypes") or [], "asset.assetTypes")
    if not assets or "*" in assets:
        return None
    if len(assets) > 1:
        r.refuse(
            "asset.assetTypes",
            f"several assets ({', '.join(assets)}) in one rule",
            "the engine matches one asset per rule; write one rule per asset",
        )
    return assets[0]


def _identifier(r: RuleReader, value: object, field: str) -> PeerPattern | None:
    table = r.table(value, field, ("type", "id", "subType", "address"))
    if table.get("address") is not None:
        r.refuse(f"{field}.address", "matching by address", "accounts are matched by type and id")
    kind = _account_type(r, table.get("type"), f"{field}.type")
    ident = table.get("id")
    ident = None if ident is None or ident == "*" else r.string(ident, f"{field}.id")
    subtype = table.get("subType")
    if subtype is not None and subtype != "*":
        subtype = r.choice(subtype, f"{field}.subType", PEER_SUBTYPES)
        if kind is not None and kind.subtype not in (None, subtype):
            r.fail(f"{field}.subType", f"subType {subtype} contradicts type {table['type']}")
    else:
        subtype = None
    base = kind or PeerPattern()
    return PeerPattern(base.type, ident, subtype or base.subtype)


def _account_type(r: RuleReader, value: object, field: str) -> PeerPattern | None:
    if value in UNSUPPORTED_ACCOUNT_TYPES:
        r.refuse(field, f"account type {value}", "no simulated account has it")
    return ACCOUNT_TYPES[r.choice(value, field, tuple(ACCOUNT_TYPES))]


def _peers(r: RuleReader, value: object, side: str, keys: tuple[str, ...]) -> tuple[PeerPattern, ...] | None:
    if value is None:
        return None
    table = r.table(value, side, keys)
    if "operator" not in table:
        r.fail(f"{side}.operator", 'required: "INCLUDES" (the only PolicyOperator)')
    r.choice(table["operator"], f"{side}.operator", ("INCLUDES",))
    for key in ("tags", "subType"):
        if table.get(key):
            r.refuse(f"{side}.{key}", f"{side}.{key}", "accounts are matched by type and id only")
    if table.get("matchFrom") is not None:
        r.refuse(f"{side}.matchFrom", f"{side}.matchFrom", "it belongs to ORDER policies")
    types = table.get("type") or []
    if not isinstance(types, list):
        r.fail(f"{side}.type", f"expected a list of account types, got {describe(types)}")
    by_type = [_account_type(r, t, f"{side}.type[{i}]") for i, t in enumerate(types)]
    ids = table.get("ids") or []
    if not isinstance(ids, list):
        r.fail(f"{side}.ids", f"expected a list of account identifiers, got {describe(ids)}")
    by_id = [_identifier(r, item, f"{side}.ids[{i}]") for i, item in enumerate(ids)]
    if by_id:
        if by_type and None not in by_type:
            for i, p in enumerate(by_id):
                if p is not None and not any(t is not None and t.covers(p) for t in by_type):
                    r.fail(f"{side}.ids[{i}].type", f"account {p} is not of a type listed in {side}.type")
        patterns = by_id
    else:
        patterns = by_type
    if not patterns or any(p is None or p == PeerPattern() for p in patterns):
        return None
    return tuple(dict.fromkeys(p for p in patterns if p is not None))


def _destination(r: RuleReader, value: object) -> tuple[tuple[PeerPattern, ...] | None, str | None]:
    if value is None:
        return None, None
    keys = ("type", "subType", "ids", "tags", "operator", "matchFrom", "addressType")
    patterns = _peers(r, value, "destination", keys)
    assert isinstance(value, Mapping)
    if "addressType" not in value:
        r.fail("destination.addressType", 'required: "*", "WHITELISTED" or "ONE_TIME"')
    address = _ADDRESS_TYPES[r.choice(value["addressType"], "destination.addressType", tuple(_ADDRESS_TYPES))]
    return patterns, address


def _range(r: RuleReader, value: object, field: str, currency: object) -> AmountRange:
    table = r.table(value, field, ("min", "max"))
    if "min" not in table:
        r.fail(f"{field}.min", "required: the minimum, a numeric string")
    return AmountRange(
        min=r.number(table["min"], f"{field}.min"),
        max=r.number(table["max"], f"{field}.max") if table.get("max") is not None else None,
        currency=r.choice(currency, f"{field.rsplit('.', 1)[0]}.currency", CURRENCIES),
    )


def _amounts(r: RuleReader, rule: Mapping[str, Any]) -> tuple[AmountRange, Window | None]:
    single = None
    if "amount" in rule:
        table = r.table(rule["amount"], "amount", ("range", "currency"))
        if "range" not in table:
            r.fail("amount.range", "required: { min, max }")
        single = _range(r, table["range"], "amount.range", table.get("currency") or "USD")
    if "amountOverTime" not in rule:
        return single or AmountRange(), None
    table = r.table(rule["amountOverTime"], "amountOverTime", ("range", "currency", "timePeriod"))
    for key in ("range", "currency", "timePeriod"):
        if key not in table:
            r.fail(f"amountOverTime.{key}", "required by AmountOverTimeConfig")
    total = _range(r, table["range"], "amountOverTime.range", table["currency"])
    if single is not None and not single.unbounded:
        r.refuse(
            "amount",
            "amount beside amountOverTime",
            "a rule here has one threshold, applied to the total over the period; "
            "put the single-transaction limit in a rule of its own",
        )
    period = r.table(
        table["timePeriod"], "amountOverTime.timePeriod", ("seconds", "initiator", "source", "destination")
    )
    for key in ("seconds", "initiator", "source", "destination"):
        if key not in period:
            r.fail(f"amountOverTime.timePeriod.{key}", "required by TimePeriodConfig")
    seconds = r.number(period["seconds"], "amountOverTime.timePeriod.seconds", allow_negative=True)

    def per(key: str) -> bool:
        where = f"amountOverTime.timePeriod.{key}"
        return r.choice(period[key], where, MATCH_TYPES) == "PER_SINGLE_MATCH"

    return total, Window(float(seconds), per("initiator"), per("source"), per("destination"))


def _approvers(r: RuleReader, value: object) -> Approvers | None:
    if value is None:
        return None
    field = "verdict.approvers"
    keys = ("canInitiatorApprove", "operator", "allowOperatorAsAuthorizer", "approvalGroups")
    table = r.table(value, field, keys)
    if "canInitiatorApprove" not in table:
        r.fail(f"{field}.canInitiatorApprove", "required: true or false")
    can = r.boolean(table["canInitiatorApprove"], f"{field}.canInitiatorApprove")
    allow = table.get("allowOperatorAsAuthorizer")
    if allow is not None and r.boolean(allow, f"{field}.allowOperatorAsAuthorizer") != can:
        r.fail(
            f"{field}.allowOperatorAsAuthorizer",
            "disagrees with canInitiatorApprove (both say whether the initiator may approve); "
            "remove one of them",
        )
    raw_groups = table.get("approvalGroups") or []
    if not isinstance(raw_groups, list):
        r.fail(f"{field}.approvalGroups", f"expected a list of groups, got {describe(raw_groups)}")
    groups = []
    for i, raw in enumerate(raw_groups):
        where = f"{field}.approvalGroups[{i}]"
        group = r.table(raw, where, ("threshold", "users", "groups"))
        threshold = r.number(group.get("threshold", 1), f"{where}.threshold")
        if threshold != int(threshold):
            r.fail(f"{where}.threshold", f"expected a whole number, got {threshold}")
        groups.append(
            ApproverGroup(
                users=tuple(r.user(u) for u in r.strings(group.get("users") or [], f"{where}.users")),
                groups=tuple(r.group(g) for g in r.strings(group.get("groups") or [], f"{where}.groups")),
                threshold=int(threshold),
            )
        )
    if not groups:
        return None
    return Approvers(
        groups=tuple(groups),
        logic=r.choice(table.get("operator") or "AND", f"{field}.operator", LOGICS),
        allow_operator_as_authorizer=can,
    )


def _signers(r: RuleReader, value: object) -> Signers:
    if value is None:
        return Signers()
    field = "verdict.designatedSigners"
    table = r.table(value, field, ("type", "users", "groups"))
    if "type" not in table:
        r.fail(f"{field}.type", "required: SINGLE, MULTIPLE or INITIATOR")
    kind = r.choice(table["type"], f"{field}.type", ("SINGLE", "MULTIPLE", "INITIATOR"))
    users = tuple(r.user(u) for u in r.strings(table.get("users") or [], f"{field}.users"))
    groups = tuple(r.group(g) for g in r.strings(table.get("groups") or [], f"{field}.groups"))
    if kind == "INITIATOR" and (users or groups):
        r.fail(f"{field}.type", "INITIATOR means the initiator signs; expected no users or groups beside it")
    if kind == "SINGLE" and (groups or len(users) != 1):
        r.fail(f"{field}.type", "SINGLE names exactly one user and no group; expected MULTIPLE for more")
    if kind == "MULTIPLE" and not (users or groups):
        r.fail(f"{field}.type", "MULTIPLE needs users or groups")
    return Signers(users, groups)
