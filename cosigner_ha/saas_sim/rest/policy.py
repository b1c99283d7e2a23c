"""`/v1/tap`: the active Transaction Authorization Policy as legacy (v1) rules, and direct publishing.

A published policy is validated at once (Fireblocks' `checkResult`); an invalid one answers 201 with
status INVALID_CONFIGURATION and changes nothing. A valid one replaces an active policy through the
SaaS's configuration-change approval (status PENDING_CONSOLE_APPROVAL until an admin's co-signer or the
owner approves), and decides every transaction submitted after it takes effect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from starlette.responses import Response

from cosigner_ha import policy
from cosigner_ha.policy.model import PeerPattern
from cosigner_ha.policy.vocabulary import DELEGATE_ADMIN_ROLES
from cosigner_ha.saas_sim.rest import errors
from cosigner_ha.saas_sim.rest.app import Call, RestApi, json_response
from cosigner_ha.saas_sim.saas import directory_of

_ADDRESS_TYPES = {"whitelisted": "WHITELISTED", "one-time": "ONE_TIME", None: "*"}
#: Where a rule names users: these keys hold API keys or names; the SaaS's policy speaks names.
_USER_LISTS = ("operators", "designatedSigners")


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _ids(api: RestApi, names: tuple[str, ...]) -> list[str]:
    return [api.user_id(n) or n for n in names]


def _pattern(pattern: PeerPattern) -> list[str]:
    return [pattern.id or "*", pattern.type or "*", pattern.subtype or "*"]


def legacy_rule(api: RestApi, rule: policy.Rule) -> dict[str, Any]:
    """A rule as the SDK's `LegacyPolicyRule`. Native rules carry no amount maximum in this form."""
    operations = rule.operations or ("TRANSFER",)
    out: dict[str, Any] = {
        "type": "TRANSFER",
        "transactionType": operations[0],
        "action": rule.action or "BLOCK",
        "asset": rule.asset or "*",
        "amountCurrency": rule.amount.currency,
        "amountScope": "SINGLE_TX" if rule.window is None else "TIMEFRAME",
        "amount": str(rule.amount.min),
        "periodSec": 0 if rule.window is None else int(rule.window.seconds),
        "dstAddressType": _ADDRESS_TYPES.get(rule.address_type, "*"),
        "applyForApprove": "APPROVE" in operations[1:],
        "applyForTypedMessage": "TYPED_MESSAGE" in operations[1:],
    }
    init = rule.initiators
    out["operators"] = (
        {"wildcard": "*"}
        if init.wildcard
        else {
            "users": _ids(api, init.users),
            "usersGroups": list(init.groups),
            "services": list(init.services),
        }
    )
    for key, patterns in (("src", rule.source), ("dst", rule.destination)):
        out[key] = {"ids": [["*", "*", "*"]] if patterns is None else [_pattern(p) for p in patterns]}
    if rule.signers.named:
        out["designatedSigners"] = {
            "users": _ids(api, rule.signers.users),
            "usersGroups": list(rule.signers.groups),
        }
    if rule.approvers is not None:
        out["authorizationGroups"] = {
            "logic": rule.approvers.logic,
            "allowOperatorAsAuthorizer": rule.approvers.allow_operator_as_authorizer,
            "groups": [
                {"users": _ids(api, g.users), "usersGroups": list(g.groups), "th": g.threshold}
                for g in rule.approvers.groups
            ],
        }
    if rule.window is not None:
        w = rule.window

        def per(flag: bool) -> str:
            return "PER_SINGLE_MATCH" if flag else "ACROSS_ALL_MATCHES"

        out["amountAggregation"] = {
            "operators": per(w.per_initiator),
            "srcTransferPeers": per(w.per_source),
            "dstTransferPeers": per(w.per_destination),
        }
    if rule.description is not None:
        out["externalDescriptor"] = rule.description
    return out


def _metadata(api: RestApi) -> dict[str, Any]:
    published = api.published
    if published is None:
        return {"editedBy": "scenario", "publishedBy": "scenario"}
    by, at = published
    return {"editedBy": by, "editedAt": _iso(at), "publishedBy": by, "publishedAt": _iso(at)}


async def active(call: Call) -> Response:
    api = call.api
    state = api.saas.ctx.workspace_named(api.workspace_name)
    if state.engine is None:
        rules: list[dict[str, Any]] = []
        validation: dict[str, Any] = {"status": "SUCCESS", "checkResult": {"errors": 0, "results": []}}
    else:
        active_policy = state.engine.policy
        rules = [legacy_rule(api, r) for r in active_policy.rules]
        validation = policy.validate(active_policy, directory_of(api.workspace)).to_dict()
    return json_response({"policy": {"rules": rules, "metadata": _metadata(api)}, "validation": validation})


def _names(api: RestApi, value: Any) -> Any:
    """API keys (or SaaS ids) of API users in a user list, as the names the SaaS's policy uses."""
    if not isinstance(value, list):
        return value
    out = []
    for item in value:
        if isinstance(item, str):
            with contextlib.suppress(errors.ApiError):
                item = api.find_api_user(item).name
        out.append(item)
    return out


def _with_names(api: RestApi, raw: Any) -> Any:
    if not isinstance(raw, dict):
        return raw
    rule = dict(raw)
    for key in _USER_LISTS:
        if isinstance(rule.get(key), dict):
            rule[key] = {**rule[key], "users": _names(api, rule[key].get("users"))}
    for key in ("operator", "designatedSigner"):
        if isinstance(rule.get(key), str) and rule[key] not in ("", "*"):
            rule[key] = _names(api, [rule[key]])[0]
    if isinstance(rule.get("authorizers"), list):
        rule["authorizers"] = _names(api, rule["authorizers"])
    groups = rule.get("authorizationGroups")
    if isinstance(groups, dict) and isinstance(groups.get("groups"), list):
        rule["authorizationGroups"] = {
            **groups,
            "groups": [
                {**g, "users": _names(api, g.get("users"))} if isinstance(g, dict) else g
                for g in groups["groups"]
            ],
        }
    return rule


async def publish(call: Call) -> Response:
    api = call.api
    data = call.json()
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        raise errors.bad_request("rules", f"expected a list of legacy policy rules, got {raw_rules!r}")
    extra = [k for k in data if k != "rules"]
    if extra:
        raise errors.bad_request(extra[0], 'unknown field; the body is {"rules": [...]}')
    source = {"rules": [_with_names(api, r) for r in raw_rules]}
    directory = directory_of(api.workspace)
    origin = f"POST /v1/tap/publish by {call.user.api_user}"
    try:
        loaded = policy.load_policy(source, directory, origin=origin)
    except policy.PolicyError as exc:
        where = f"rules[{exc.rule_index}]" if exc.rule_index is not None else "rules"
        field = f"{where}.{exc.field}" if exc.field else where
        raise errors.bad_request(field, exc.problem) from None
    result = policy.validate(loaded, directory)
    status = result.status
    if result.ok:
        request = api.saas.publish_policy(api.workspace_name, source, origin=origin)
        api.published = (call.user.api_user, api.saas.env.clock.wall())
        if request is not None and not request.final:
            status = "PENDING_CONSOLE_APPROVAL"
    body = {
        "status": status,
        "rules": [legacy_rule(api, r) for r in loaded.rules],
        "checkResult": result.to_dict()["checkResult"],
        "metadata": _metadata(api),
    }
    return json_response(body, status=201)


ROUTES = [
    ("GET", "/tap/active_policy", active, None, ""),
    ("POST", "/tap/publish", publish, DELEGATE_ADMIN_ROLES, "publishing a policy"),
]
