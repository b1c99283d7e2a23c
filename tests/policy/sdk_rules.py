"""Policies built with the official `fireblocks` SDK's own models, serialised as the SDK sends them.

`LegacyPolicyRule` (v1) and `PolicyRule` (v2) validate every field name and enum value, so a rule built
here is one Fireblocks' API would accept in shape. One SDK defect is worked around: 35.x's
`AssetTypesConfigInner` (a oneOf of a single `str`) refuses every string ("Multiple matches found"),
so a v2 rule's `asset.assetTypes` is added to the dict after the model has serialised.
"""

from __future__ import annotations

import json
from typing import Any

from fireblocks.models.account_identifier import AccountIdentifier
from fireblocks.models.account_type2 import AccountType2
from fireblocks.models.amount_config import AmountConfig
from fireblocks.models.amount_over_time_config import AmountOverTimeConfig
from fireblocks.models.amount_range_min_max2 import AmountRangeMinMax2
from fireblocks.models.approvers_config import ApproversConfig
from fireblocks.models.approvers_config_approval_groups_inner import ApproversConfigApprovalGroupsInner
from fireblocks.models.asset_config import AssetConfig
from fireblocks.models.designated_signers_config import DesignatedSignersConfig
from fireblocks.models.destination_config import DestinationConfig
from fireblocks.models.initiator_config import InitiatorConfig
from fireblocks.models.initiator_config_pattern import InitiatorConfigPattern
from fireblocks.models.legacy_policy_rule import LegacyPolicyRule
from fireblocks.models.legacy_policy_rule_amount import LegacyPolicyRuleAmount
from fireblocks.models.legacy_policy_rule_amount_aggregation import LegacyPolicyRuleAmountAggregation
from fireblocks.models.legacy_policy_rule_authorization_groups import LegacyPolicyRuleAuthorizationGroups
from fireblocks.models.legacy_policy_rule_authorization_groups_groups_inner import (
    LegacyPolicyRuleAuthorizationGroupsGroupsInner,
)
from fireblocks.models.legacy_policy_rule_designated_signers import LegacyPolicyRuleDesignatedSigners
from fireblocks.models.legacy_policy_rule_dst import LegacyPolicyRuleDst
from fireblocks.models.legacy_policy_rule_operators import LegacyPolicyRuleOperators
from fireblocks.models.legacy_policy_rule_src import LegacyPolicyRuleSrc
from fireblocks.models.legacy_policy_rules import LegacyPolicyRules
from fireblocks.models.legacy_src_or_dest_attributes_inner import LegacySrcOrDestAttributesInner
from fireblocks.models.policy_currency import PolicyCurrency
from fireblocks.models.policy_operator import PolicyOperator
from fireblocks.models.policy_rule import PolicyRule
from fireblocks.models.policy_type import PolicyType
from fireblocks.models.source_config import SourceConfig
from fireblocks.models.time_period_config import TimePeriodConfig
from fireblocks.models.time_period_match_type import TimePeriodMatchType
from fireblocks.models.verdict_config import VerdictConfig

INCLUDES = PolicyOperator.INCLUDES
# Fireblocks peer type of each scenario account kind, and the v2 account type that stands for it
V2_TYPES = {
    "VAULT": AccountType2.VAULT,
    "EXCHANGE": AccountType2.EXCHANGE,
    "FIAT_ACCOUNT": AccountType2.FIAT_ACCOUNT,
    "ONE_TIME_ADDRESS": AccountType2.ONE_TIME_ADDRESS,
    "NETWORK_CONNECTION": AccountType2.NETWORK_CONNECTION,
}
V2_SUBTYPES = {"EXTERNAL": AccountType2.EXTERNAL, "INTERNAL": AccountType2.INTERNAL}


def v1_rule(
    *,
    action: str,
    asset: str = "*",
    amount: str = "0",
    currency: str = "USD",
    operators: list[str] | None = None,
    groups: list[str] | None = None,
    src: list[list[str]] | None = None,
    dst: list[list[str]] | None = None,
    address: str = "*",
    signers: list[str] | None = None,
    signer_groups: list[str] | None = None,
    approvers: list[tuple[list[str], int]] | None = None,
    logic: str = "AND",
    period: int = 0,
    per: tuple[bool, bool, bool] = (False, False, False),
    transaction_type: str = "TRANSFER",
) -> dict[str, Any]:
    """One `LegacyPolicyRule`, as `to_dict()` gives it."""

    def ids(tuples: list[list[str]]) -> list[list[LegacySrcOrDestAttributesInner]]:
        return [[LegacySrcOrDestAttributesInner(item) for item in t] for t in tuples]

    def how(each: bool) -> str:
        return "PER_SINGLE_MATCH" if each else "ACROSS_ALL_MATCHES"

    rule = LegacyPolicyRule(
        type="TRANSFER",
        transaction_type=transaction_type,
        action=action,
        asset=asset,
        amount_currency=currency,
        amount_scope="TIMEFRAME" if period else "SINGLE_TX",
        amount=LegacyPolicyRuleAmount(amount),
        period_sec=period,
        operators=LegacyPolicyRuleOperators(wildcard="*")
        if not (operators or groups)
        else LegacyPolicyRuleOperators(users=operators or [], users_groups=groups or []),
        src=LegacyPolicyRuleSrc(ids=ids(src or [["*"]])),
        dst=LegacyPolicyRuleDst(ids=ids(dst or [["*"]])),
        dst_address_type=address,
        designated_signers=None
        if not (signers or signer_groups)
        else LegacyPolicyRuleDesignatedSigners(users=signers or [], users_groups=signer_groups or []),
        authorization_groups=None
        if not approvers
        else LegacyPolicyRuleAuthorizationGroups(
            logic=logic,
            groups=[LegacyPolicyRuleAuthorizationGroupsGroupsInner(users=u, th=th) for u, th in approvers],
        ),
        amount_aggregation=LegacyPolicyRuleAmountAggregation(
            operators=how(per[0]), src_transfer_peers=how(per[1]), dst_transfer_peers=how(per[2])
        )
        if period
        else None,
    )
    return _as_sent(rule.to_dict())


def _as_sent(data: Any) -> Any:
    """The JSON the SDK sends (its `to_dict` keeps enum members; the wire carries their values)."""
    return json.loads(json.dumps(data))


def v1_policy(*rules: dict[str, Any]) -> dict[str, Any]:
    built = LegacyPolicyRules.from_dict({"rules": list(rules)})
    assert built is not None
    return _as_sent(built.to_dict())


def v2_peers(tuples: list[list[str]] | None) -> dict[str, Any]:
    """v1 `[id, type, subType]` tuples as a v2 SourceConfig (ids; types alone when every id is "*")."""
    if not tuples or ["*"] in tuples:
        return _as_sent(SourceConfig(type=[AccountType2.STAR], operator=INCLUDES).to_dict())
    identifiers = []
    for t in tuples:
        ident, peer_type, subtype = (*t, "*", "*")[:3]
        if peer_type == "UNMANAGED" and subtype in V2_SUBTYPES:
            kind, sub = V2_SUBTYPES[subtype], None
        elif peer_type == "UNMANAGED":
            kind, sub = AccountType2.UNMANAGED, None
        else:
            kind, sub = V2_TYPES.get(peer_type, AccountType2.STAR), None if subtype == "*" else subtype
        identifiers.append(AccountIdentifier(type=kind, id=None if ident == "*" else ident, sub_type=sub))
    return _as_sent(SourceConfig(ids=identifiers, operator=INCLUDES).to_dict())


def v1_to_v2(rule: dict[str, Any], index: int) -> dict[str, Any]:
    """The v2 `PolicyRule` that says what a v1 rule (as `v1_rule` builds it) says."""
    operators = rule["operators"]
    initiator: InitiatorConfigPattern
    if operators.get("wildcard") == "*":
        initiator = InitiatorConfigPattern("*")
    else:
        initiator = InitiatorConfigPattern(
            InitiatorConfig(
                users=operators.get("users") or None,
                groups=operators.get("usersGroups") or None,
                operator=INCLUDES,
            )
        )
    signers = rule.get("designatedSigners")
    auth = rule.get("authorizationGroups")
    range_ = AmountRangeMinMax2(min=str(rule["amount"]))
    currency = PolicyCurrency(rule["amountCurrency"])
    timeframe = rule["amountScope"] == "TIMEFRAME"
    aggregation = rule.get("amountAggregation") or {}
    destination = v2_peers(rule["dst"]["ids"])
    built = PolicyRule(
        name=f"rule {index}",
        id=f"rule-{index}",
        policy_engine_version="v2",
        type=PolicyType(rule.get("transactionType", "TRANSFER")),
        initiator=initiator,
        asset=AssetConfig(nft_transfer=False, operator=INCLUDES),
        source=SourceConfig.from_dict(v2_peers(rule["src"]["ids"])),
        destination=DestinationConfig.from_dict({**destination, "addressType": rule["dstAddressType"]}),
        verdict=VerdictConfig(
            action=rule["action"],
            designated_signers=None
            if not signers
            else DesignatedSignersConfig(
                type="MULTIPLE", users=signers.get("users") or None, groups=signers.get("usersGroups") or None
            ),
            approvers=None
            if not auth
            else ApproversConfig(
                can_initiator_approve=bool(auth.get("allowOperatorAsAuthorizer", False)),
                operator=auth.get("logic", "AND"),
                approval_groups=[
                    ApproversConfigApprovalGroupsInner(threshold=g["th"], users=g.get("users") or None)
                    for g in auth["groups"]
                ],
            ),
        ),
        amount=None if timeframe else AmountConfig(range=range_, currency=currency),
        amount_over_time=None
        if not timeframe
        else AmountOverTimeConfig(
            range=range_,
            currency=currency,
            time_period=TimePeriodConfig(
                seconds=str(rule["periodSec"]),
                initiator=TimePeriodMatchType(aggregation.get("operators", "ACROSS_ALL_MATCHES")),
                source=TimePeriodMatchType(aggregation.get("srcTransferPeers", "ACROSS_ALL_MATCHES")),
                destination=TimePeriodMatchType(aggregation.get("dstTransferPeers", "ACROSS_ALL_MATCHES")),
            ),
        ),
        index=index,
    ).to_dict()
    built = _as_sent(built)
    if rule["asset"] != "*":  # the SDK defect: see the module docstring
        built["asset"]["assetTypes"] = [rule["asset"]]
    return built
