"""Writing a scenario back: the file form (`to_toml`), its plain-data form, and the content hash.

`scenario_to_dict` is the inverse of the loader's reading, key for key: `scenario_from_dict` of its
result is an equal model. By default it leaves out values equal to their defaults, so a shrunk
counterexample reads like a hand-written file; the content hash uses the full form, so that changing a
default in a later version changes the hash of every file that relied on it.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import tomli_w

from cosigner_ha.cluster.scenario.durations import format_duration, format_rate
from cosigner_ha.cluster.scenario.frozen import thaw
from cosigner_ha.cluster.scenario.model import (
    ApiUser,
    AsgiCallback,
    Callback,
    Expect,
    Fault,
    Group,
    InlinePolicy,
    Node,
    PolicySpec,
    PythonCallback,
    SaasSettings,
    Scenario,
    ScenarioInfo,
    ScriptedCallback,
    Tenant,
    UrlCallback,
    User,
    Workload,
    Workspace,
)
from cosigner_ha.env import canonical
from cosigner_ha.env.files import write_text_atomic

#: Prefixed to the canonical encoding before hashing, so a later format's hash cannot collide with it.
HASH_DOMAIN = "cosigner-ha scenario v1\n"

_SAAS_DURATIONS = (
    "probe_window",
    "long_poll_interval",
    "offline_after",
    "callback_deadline",
    "callback_retry_interval",
    "pairing_token_validity",
    "authorization_timeout",
    "signing_timeout",
    "owner_approval_latency",
    "admin_approval_latency",
)


class _Out(dict[str, Any]):
    """A table under construction that leaves out defaults (unless told to keep them)."""

    def __init__(self, full: bool) -> None:
        super().__init__()
        self.full = full

    def put(self, key: str, value: Any, default: Any = dataclasses.MISSING) -> None:
        if value is None:
            return
        if not self.full and default is not dataclasses.MISSING and value == default:
            return
        self[key] = value


def _d(seconds: float) -> str:
    return format_duration(seconds)


def scenario_to_dict(scenario: Scenario, *, full: bool = False) -> dict[str, Any]:
    """The dict a TOML parser would return for the scenario's file; `full` keeps default values."""
    return _to_dict(scenario, full=full, for_hash=False)


def _to_dict(scenario: Scenario, *, full: bool, for_hash: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": _info(scenario.scenario, full)}
    if full or scenario.saas != SaasSettings():
        out["saas"] = _saas(scenario.saas, full)
    if scenario.workspaces:  # the [[workspaces]] form: each workspace holds its people and workloads
        out["workspaces"] = [_tenant(tenant, full, for_hash) for tenant in scenario.tenants()]
    else:
        out["workspace"] = _workspace(scenario.workspace, full)
        out.update(_people(scenario.users, scenario.api_users, scenario.groups, full, for_hash))
    out["nodes"] = [_node(n, full) for n in scenario.nodes]
    if scenario.callbacks or full:
        out["callbacks"] = {c.name: _callback(c, full, for_hash) for c in scenario.callbacks}
    if scenario.policy is not None and not scenario.workspaces:
        out["policy"] = _policy(scenario.policy, for_hash)
    if (scenario.workloads or full) and not scenario.workspaces:
        out["workload"] = [_workload(w, full) for w in scenario.workloads]
    if scenario.faults or full:
        out["faults"] = [_fault(f, full, for_hash) for f in scenario.faults]
    if full or scenario.expect != Expect():
        out["expect"] = _expect(scenario.expect, full)
    return out


def _workspace(w: Workspace, full: bool) -> dict[str, Any]:
    workspace = _Out(full)
    workspace.put("name", w.name)
    workspace.put("env", w.env.value)
    workspace.put("prices_usd", dict(w.prices_usd), {})
    for key in ("vaults", "exchanges", "fiat_accounts", "wallets"):
        workspace.put(key, list(getattr(w, key)), [])
    # Keys added after version 1 shipped appear only when set, so that earlier files keep their hash.
    for key in ("internal_wallets", "network_connections", "contract_wallets"):
        if getattr(w, key):
            workspace.put(key, list(getattr(w, key)))
    workspace.put("eur_usd", w.eur_usd)
    if w.prices_eur:
        workspace.put("prices_eur", dict(w.prices_eur))
    if w.balances:
        workspace.put("balances", {vault: dict(assets) for vault, assets in w.balances.items()})
    return dict(workspace)


def _people(
    users: tuple[User, ...],
    api_users: tuple[ApiUser, ...],
    groups: tuple[Group, ...],
    full: bool,
    for_hash: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if users or full:
        out["users"] = [_person(u.name, u.role.value, u.id) for u in users]
    if api_users or full:
        out["api_users"] = []
        for u in api_users:
            api_user = _Out(full)
            api_user.put("name", u.name)
            api_user.put("role", u.role.value)
            api_user.put("callback", u.callback)
            api_user.put("id", u.id)
            api_user.put("api_key", u.api_key)
            if u.public_key is not None:  # the hash covers the key, not where its file sits
                api_user.put("public_key", u.public_key.pem if for_hash else str(u.public_key.path))
            out["api_users"].append(dict(api_user))
    if groups or full:
        out["groups"] = [
            {"name": g.name, "members": list(g.members), **({} if g.id is None else {"id": g.id})}
            for g in groups
        ]
    return out


def _tenant(tenant: Tenant, full: bool, for_hash: bool) -> dict[str, Any]:
    """One `[[workspaces]]` table: the workspace's keys, then its people, policy and workloads."""
    out = _workspace(tenant.workspace, full)
    out.update(_people(tenant.users, tenant.api_users, tenant.groups, full, for_hash))
    if tenant.policy is not None:
        out["policy"] = _policy(tenant.policy, for_hash)
    if tenant.workloads or full:
        out["workload"] = [_workload(w, full) for w in tenant.workloads]
    return out


def _person(name: str, role: str, ident: str | None) -> dict[str, Any]:
    return {"name": name, "role": role, **({} if ident is None else {"id": ident})}


def _info(info: ScenarioInfo, full: bool) -> dict[str, Any]:
    out = _Out(full)
    out.put("version", info.version, 1)
    out.put("name", info.name)
    out.put("seed", info.seed)
    out.put("duration", _d(info.duration))
    out.put("description", info.description, "")
    return dict(out)


def _saas(saas: SaasSettings, full: bool) -> dict[str, Any]:
    default = SaasSettings()
    out = _Out(full)
    for field in dataclasses.fields(SaasSettings):
        value, base = getattr(saas, field.name), getattr(default, field.name)
        if value is None:  # keys added later (cloud capacity): written only when set
            continue
        if field.name == "cloud_signing_round_time":
            out.put(field.name, _d(value))
        elif field.name in _SAAS_DURATIONS:
            out.put(field.name, _d(value), _d(base))
        elif isinstance(value, enum.Enum):
            out.put(field.name, value.value, base.value)
        else:
            out.put(field.name, value, base)
    return dict(out)


def _node(node: Node, full: bool) -> dict[str, Any]:
    out = _Out(full)
    out.put("name", node.name)
    out.put("enclave", node.enclave.value)
    out.put("site", node.site)
    out.put("api_users", list(node.api_users), [])
    out.put("standby", node.standby, False)
    out.put("log_max_bytes", node.log_max_bytes, 4_100_000)
    out.put("log_files", node.log_files, 10)
    out.put("signing_sessions", node.signing_sessions, None)
    if node.signing_round_time is not None:
        out.put("signing_round_time", _d(node.signing_round_time))
    for key in ("boot_time", "attest_time", "restore_time"):
        value = getattr(node, key)
        if value is not None:
            out.put(key, _d(value))
    return dict(out)


def _callback(callback: Callback, full: bool, for_hash: bool) -> dict[str, Any]:
    out = _Out(full)
    if not isinstance(callback, UrlCallback) and callback.site is not None:
        out.put("site", callback.site)
    if isinstance(callback, PythonCallback | AsgiCallback):
        out.put("python" if isinstance(callback, PythonCallback) else "asgi", callback.target)
        out.put("latency", _d(callback.latency), _d(0.0))
        if callback.jitter:  # only when given: scenario hashes from before jitter applied here stay put
            out.put("jitter", _d(callback.jitter))
        if callback.path is not None and not for_hash:  # the hash covers what runs, not where it sits
            out.put("path", str(callback.path))
        if isinstance(callback, AsgiCallback):
            if callback.public_key is not None:
                out.put("public_key", callback.public_key.pem if for_hash else str(callback.public_key.path))
            if callback.loop != "asyncio":
                out.put("loop", callback.loop)
    elif isinstance(callback, UrlCallback):
        out.put("url", callback.url)
    else:
        default = ScriptedCallback(callback.name)
        out.put("latency", _d(callback.latency), _d(default.latency))
        out.put("jitter", _d(callback.jitter), _d(default.jitter))
        out.put("action", callback.action.value, default.action.value)
        out.put("reject_above_usd", callback.reject_above_usd)
        out.put("retry_first_n", callback.retry_first_n, 0)
        out.put("timeout_first_n", callback.timeout_first_n, 0)
        if callback.private_key is not None:  # the hash covers the public half, never the secret or the path
            key = callback.private_key
            out.put("private_key", key.public_pem if for_hash else str(key.path))
    return dict(out)


def _policy(policy: PolicySpec, for_hash: bool) -> dict[str, Any]:
    match = {} if policy.amount_match == "exceed" else {"amount_match": policy.amount_match}
    if isinstance(policy, InlinePolicy):
        return {"rules": policy.rule_dicts(), **match}
    if for_hash:  # the hash covers what the policy says, not where its file sits
        return {"fireblocks_json_sha256": policy.sha256, **match}
    return {"fireblocks_json": str(policy.path), **match}


def _workload(w: Workload, full: bool) -> dict[str, Any]:
    out = _Out(full)
    out.put("name", w.name)
    if w.rate is not None:
        out.put("rate", format_rate(w.rate))
        out.put("start", _d(w.start), _d(0.0))
        out.put("stop", None if w.stop is None else _d(w.stop))
    else:
        out.put("at", None if w.at is None else _d(w.at))
        out.put("count", w.count, 1)
    out.put("initiator", w.initiator)
    out.put("operation", w.operation.value, "TRANSFER")
    out.put("asset", w.asset)
    amount = {"min": w.amount_min}
    if full or w.amount_max != w.amount_min:
        amount["max"] = w.amount_max
    out.put("amount", amount)
    out.put("source", w.source)
    out.put("destination", w.destination)
    implied = "one-time" if w.destination.startswith("one-time:") else "whitelisted"
    out.put("destination_address", w.destination_address.value, implied)
    if w.extra_parameters is not None:
        out.put("extra_parameters", thaw(w.extra_parameters))
    return dict(out)


def _fault(f: Fault, full: bool, for_hash: bool) -> dict[str, Any]:
    out = _Out(full)
    out.put("at", _d(f.at))
    out.put("action", f.action.value)
    out.put("node", f.node)
    out.put("site", f.site)
    out.put("link", None if f.link is None else list(f.link))
    out.put("callback", f.callback)
    out.put("api_user", f.api_user)
    out.put("for", None if f.for_ is None else _d(f.for_))
    out.put("amount", None if f.amount is None else _d(f.amount))
    out.put("jitter", None if f.jitter is None else _d(f.jitter))
    out.put("ratio", f.ratio)
    out.put("mode", None if f.mode is None else f.mode.value)
    out.put("skew", None if f.skew is None else format_duration(f.skew, signed=True))
    out.put("backup", f.backup, False)
    out.put("new_host", f.new_host, False)
    out.put("token_age", None if f.token_age is None else _d(f.token_age))
    out.put("workspace", f.workspace)
    if f.policy is not None:
        out.update(_policy(f.policy, for_hash))
    return dict(out)


def _expect(e: Expect, full: bool) -> dict[str, Any]:
    out = _Out(full)
    out.put("all_terminal", e.all_terminal, True)
    out.put("no_double_sign", e.no_double_sign, True)
    out.put("no_nonce_reuse", e.no_nonce_reuse, True)
    out.put("min_completed_ratio", e.min_completed_ratio)
    out.put(
        "max_signing_latency_p99",
        None if e.max_signing_latency_p99 is None else _d(e.max_signing_latency_p99),
    )
    out.put("max_failover", None if e.max_failover is None else _d(e.max_failover))
    windows = [{"from": _d(w.from_), "to": _d(w.to), "signed_by": list(w.signed_by)} for w in e.windows]
    out.put("window", windows, [])
    outcomes = []
    for o in e.outcomes:
        outcome = _Out(full)
        outcome.put("workload", o.workload)
        outcome.put("status", o.status.value)
        outcome.put("sub_status", o.sub_status)
        outcome.put("count", o.count)
        outcomes.append(dict(outcome))
    out.put("outcome", outcomes, [])
    return dict(out)


def to_toml(scenario: Scenario) -> str:
    """The scenario as a version-1 file; loading it gives an equal model."""
    # Sections in the documented order, arrays of tables as [[headers]]: tomli-w alone would write short
    # arrays of tables inline and hoist them above every [table], away from where a reader looks.
    data = scenario_to_dict(scenario)
    literals = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_array_of_tables(v)}
    chunks = [tomli_w.dumps(literals)] if literals else []
    for key, value in data.items():
        if isinstance(value, dict):
            chunks.append(tomli_w.dumps({key: value}))
        elif _is_array_of_tables(value):
            # Without multi-line strings every line that starts with "[" is a header of the item's own
            # sub-tables; they become sub-tables of this item.
            chunks.extend(f"[[{key}]]\n" + _HEADER.sub(rf"\1{key}.", tomli_w.dumps(item)) for item in value)
    return f"# cosigner-ha scenario, version 1: {scenario.name}\n\n" + "\n".join(chunks)


_HEADER = re.compile(r"^(\[\[?)", re.MULTILINE)


def _is_array_of_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def write_scenario(scenario: Scenario, path: str | os.PathLike[str]) -> Path:
    """Write `to_toml` to `path` atomically: a reader sees the old file or the whole new one, never half."""
    return write_text_atomic(path, to_toml(scenario))


def content_hash(scenario: Scenario) -> str:
    """SHA-256 (hex) of the canonical JSON of the full model: equal models, equal hashes, wherever loaded."""
    encoded = canonical(_to_dict(scenario, full=True, for_hash=True))
    return hashlib.sha256((HASH_DOMAIN + encoded).encode("ascii")).hexdigest()


__all__ = ["content_hash", "scenario_to_dict", "to_toml", "write_scenario"]
