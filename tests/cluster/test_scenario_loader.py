"""Loading scenario files: the happy path on a full example, and every refusal with file, key path and
what was expected."""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cluster.scenario import (
    AddressType,
    ApiUserRole,
    CallbackAction,
    Enclave,
    ExpectWindow,
    FaultAction,
    FireblocksPolicy,
    InlinePolicy,
    Rate,
    ScenarioError,
    ScriptedCallback,
    Selection,
    WorkspaceEnv,
    load_scenario,
    load_scenario_text,
    scenario_from_dict,
)

EXAMPLE = """
[scenario]
name = "active-active-passive"
seed = 42
duration = "6h"

[saas]
probe_window = "2s"
selection = "listed-order"

[workspace]
name = "acme"
env = "mainnet"
prices_usd = { BTC = 60000, ETH = 3000, USDC = 1 }
vaults = ["0", "hot", "treasury"]
exchanges = ["exch-main"]
fiat_accounts = ["bank-usd"]
wallets = ["cold", "partner-a"]

[[users]]
name = "tywin"
role = "ADMIN"

[[api_users]]
name = "ops"
role = "EDITOR"
[[api_users]]
name = "signer-a"
role = "SIGNER"
callback = "risk"
[[api_users]]
name = "signer-b"
role = "SIGNER"
[[api_users]]
name = "signer-c"
role = "ADMIN"
id = "7f1c1c1e-0000-4000-8000-000000000003"

[[groups]]
name = "group-1"
members = ["signer-a", "signer-b", "signer-c"]

[[nodes]]
name = "nitro-a"
enclave = "nitro"
site = "aws/us-east-1/a"
api_users = ["signer-a"]
[[nodes]]
name = "nitro-b"
enclave = "nitro"
site = "aws/us-east-1/b"
api_users = ["signer-b"]
[[nodes]]
name = "sgx-dc1"
enclave = "sgx"
site = "onprem/dc1"
api_users = ["signer-c"]
standby = true

[callbacks.risk]
latency = "150ms"
action = "APPROVE"
reject_above_usd = 1000000

[[policy.rules]]
initiator = "*"
operation = "TRANSFER"
source = "vault:*"
destination = "*"
destination_address = "*"
asset = "*"
amount = { min = 0, currency = "USD" }
over = { window = "24h", per = ["initiator", "source"] }
action = "2-TIER"
approvers = { groups = [{ users = ["tywin"], threshold = 1 }], logic = "AND" }
designated_signers = { groups = ["group-1"] }

[[workload]]
name = "withdrawals"
rate = "2/min"
initiator = "ops"
asset = "ETH"
amount = { min = 0.01, max = 50 }
source = "vault:hot"
destination = "wallet:partner-a"
[[workload]]
name = "one-off"
at = "2h"
count = 3
initiator = "tywin"
asset = "BTC"
amount = { min = 1 }
source = "vault:treasury"
destination = "one-time:bc1qexample"

[[faults]]
at = "30m"
action = "crash"
node = "nitro-a"
[[faults]]
at = "1h"
action = "site-outage"
site = "aws/us-east-1"
for = "40m"
[[faults]]
at = "3h"
action = "latency"
link = ["nitro-b", "saas"]
amount = "200ms"
for = "10m"
[[faults]]
at = "4h"
action = "callback"
callback = "risk"
mode = "timeout"
for = "5m"

[expect]
min_completed_ratio = 0.99
max_signing_latency_p99 = "2m"
max_failover = "60s"
[[expect.window]]
from = "1h"
to = "1h40m"
signed_by = ["sgx-dc1"]
"""

EXAMPLE_DICT: dict[str, Any] = tomllib.loads(EXAMPLE)


def refused(change: Callable[[dict[str, Any]], object], origin: str = "case.toml") -> ScenarioError:
    data = copy.deepcopy(EXAMPLE_DICT)
    change(data)
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, origin)
    return info.value


def assert_refused(error: ScenarioError, path: str, *expected: str) -> None:
    """One of the problems sits at `path`, and its message (with the file) says each of `expected`."""
    lines = [str(p) for p in error.problems if p.path == path]
    assert lines, f"no problem at {path!r}; got:\n{error}"
    text = lines[0]
    assert text.startswith("case.toml: " + path + ": ")
    for part in expected:
        assert part in text, f"{part!r} not in {text!r}"
    assert text in str(error)


# -- happy path ----------------------------------------------------------------------------------------


def test_the_full_example_loads_into_the_model(tmp_path: Path) -> None:
    path = tmp_path / "aap.toml"
    path.write_text(EXAMPLE)
    s = load_scenario(path)
    assert s.origin == str(path)
    assert (s.name, s.seed, s.duration) == ("active-active-passive", 42, 6 * 3600.0)
    assert s.saas.probe_window == 2.0 and s.saas.selection is Selection.LISTED_ORDER
    assert s.saas.signing_timeout == 7200.0 and s.saas.callback_retry_attempts == 20  # defaults
    assert s.workspace.env is WorkspaceEnv.MAINNET
    assert dict(s.workspace.prices_usd) == {"BTC": 60000.0, "ETH": 3000.0, "USDC": 1.0}
    assert s.workspace.vaults == ("0", "hot", "treasury")
    assert [u.name for u in s.api_users] == ["ops", "signer-a", "signer-b", "signer-c"]
    assert s.api_user("signer-c").role is ApiUserRole.ADMIN and s.api_user("signer-c").can_sign
    assert s.api_user("signer-c").id == "7f1c1c1e-0000-4000-8000-000000000003"
    assert not s.api_user("ops").can_sign
    assert s.groups[0].members == ("signer-a", "signer-b", "signer-c")
    assert s.node("sgx-dc1").enclave is Enclave.SGX and s.node("sgx-dc1").standby
    assert s.callback("risk") == ScriptedCallback(
        "risk", latency=0.15, action=CallbackAction.APPROVE, reject_above_usd=1_000_000.0
    )
    assert isinstance(s.policy, InlinePolicy)
    rule = s.policy.rule_dicts()[0]
    assert rule["designated_signers"] == {"groups": ["group-1"]}
    assert rule["approvers"]["groups"][0] == {"users": ["tywin"], "threshold": 1}
    withdrawals, one_off = s.workloads
    assert withdrawals.rate == Rate(2.0, "min") and withdrawals.at is None and withdrawals.stop is None
    assert (withdrawals.amount_min, withdrawals.amount_max) == (0.01, 50.0)
    assert withdrawals.destination_address is AddressType.WHITELISTED
    assert (one_off.at, one_off.count, one_off.amount_max) == (7200.0, 3, 1.0)
    assert one_off.destination_address is AddressType.ONE_TIME
    assert [f.action for f in s.faults] == [
        FaultAction.CRASH,
        FaultAction.SITE_OUTAGE,
        FaultAction.LATENCY,
        FaultAction.CALLBACK,
    ]
    assert s.faults[1].until == 3600.0 + 2400.0
    assert s.faults[2].link == ("nitro-b", "saas") and s.faults[2].amount == 0.2
    assert s.expect.max_failover == 60.0 and s.expect.all_terminal
    assert s.expect.windows == (ExpectWindow(3600.0, 6000.0, ("sgx-dc1",)),)


def test_the_model_is_immutable_and_hashable() -> None:
    s = load_scenario_text(EXAMPLE)
    with pytest.raises(AttributeError):
        s.nodes[0].name = "x"  # type: ignore[misc]
    assert isinstance(s.policy, InlinePolicy)
    with pytest.raises(TypeError):
        s.policy.rules[0]["action"] = "BLOCK"  # type: ignore[index]
    copy_ = s.policy.rule_dicts()
    copy_[0]["action"] = "BLOCK"  # a caller's copy, not the model
    assert s.policy.rules[0]["action"] == "2-TIER"
    assert hash(s) == hash(load_scenario_text(EXAMPLE))


def test_minimal_scenario_takes_every_default() -> None:
    s = load_scenario_text(
        '[scenario]\nname = "m"\nseed = 0\nduration = "1h"\n[workspace]\nname = "w"\n'
        '[[api_users]]\nname = "s"\nrole = "SIGNER"\n'
        '[[nodes]]\nname = "n"\nenclave = "sgx"\nsite = "dc"\napi_users = ["s"]\n'
    )
    assert s.policy is None and s.faults == () and s.workloads == () and s.callbacks == ()
    assert s.workspace.env is WorkspaceEnv.MAINNET
    assert s.saas.long_poll_interval == 30.0 and s.saas.offline_after == 900.0
    assert s.saas.pairing_token_validity == 3600.0 and s.saas.callback_deadline == 30.0
    assert s.expect.no_double_sign and s.expect.min_completed_ratio is None


def test_fireblocks_json_is_resolved_against_the_scenario_folder(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    policy = tmp_path / "policies" / "prod.json"
    policy.write_text(json.dumps({"rules": [{"type": "TRANSFER", "action": "ALLOW"}]}))
    data = copy.deepcopy(EXAMPLE_DICT)
    data["policy"] = {"fireblocks_json": "policies/prod.json"}
    data["faults"].append({"at": "5h", "action": "policy", "fireblocks_json": "policies/prod.json"})
    scenario_file = tmp_path / "s.toml"
    import tomli_w

    scenario_file.write_text(tomli_w.dumps(data))
    s = load_scenario(scenario_file)
    assert isinstance(s.policy, FireblocksPolicy)
    assert s.policy.path == policy.resolve()
    assert s.faults[-1].policy == s.policy
    assert len(s.policy.sha256) == 64


# -- refusals ------------------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets a dotted path ("nodes.0.enclave") in the example's dict."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return change


def _add(section: str, item: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.setdefault(section, []).append(item)


NODES = "expected one of the node names: nitro-a, nitro-b, sgx-dc1"

CASES: list[tuple[str, Callable[[dict[str, Any]], object], str, tuple[str, ...]]] = [
    # unknown names
    (
        "unknown node",
        _set("faults.0.node", "nitro-c"),
        "faults[0].node",
        (NODES, "'nitro-c'", "did you mean 'nitro-b'"),
    ),
    (
        "unknown user",
        _set("workload.0.initiator", "opps"),
        "workload[0].initiator",
        ("expected one of the user and API user names", "did you mean 'ops'"),
    ),
    (
        "unknown group",
        _set("policy.rules.0.designated_signers.groups", ["group-2"]),
        "policy.rules[0].designated_signers.groups[0]",
        ("expected one of the group names: group-1",),
    ),
    (
        "unknown approver",
        _set("policy.rules.0.approvers.groups.0.users", ["tyrion"]),
        "policy.rules[0].approvers.groups[0].users[0]",
        ("user and API user names",),
    ),
    (
        "unknown rule initiator",
        _set("policy.rules.0.initiator", "cersei"),
        "policy.rules[0].initiator",
        ('"*", a user or API user name',),
    ),
    (
        "unknown site",
        _set("faults.1.site", "gcp/europe-west1"),
        "faults[1].site",
        ("matches no node", "aws/us-east-1/a"),
    ),
    (
        "unknown callback",
        _set("api_users.1.callback", "riks"),
        "api_users[1].callback",
        ("expected one of the callbacks", "did you mean 'risk'"),
    ),
    (
        "unknown node in window",
        _set("expect.window.0.signed_by", ["sgx-dc2"]),
        "expect.window[0].signed_by[0]",
        (NODES,),
    ),
    (
        "unknown link endpoint",
        _set("faults.2.link", ["nitro-b", "sass"]),
        "faults[2].link[1]",
        ("'saas' or a node name", "did you mean 'saas'"),
    ),
    (
        "unknown vault",
        _set("workload.0.source", "vault:cold"),
        "workload[0].source",
        ("one of the workspace.vaults: 0, hot, treasury", "'vault:cold'"),
    ),
    (
        "unknown account kind",
        _set("workload.0.source", "vualt:hot"),
        "workload[0].source",
        ("vault:<id>", "did you mean 'vault'"),
    ),
    (
        "wallet as source",
        _set("workload.0.source", "wallet:cold"),
        "workload[0].source",
        ("vault:<id>, exchange:<id> or fiat:<id>",),
    ),
    (
        "unknown rule account",
        _set("policy.rules.0.destination", "wallet:partner-b"),
        "policy.rules[0].destination",
        ("workspace.wallets: cold, partner-a",),
    ),
    (
        "unknown asset",
        _set("workload.0.asset", "DOGE"),
        "workload[0].asset",
        ("assets of workspace.prices_usd: BTC, ETH, USDC",),
    ),
    ("unknown rule asset", _set("policy.rules.0.asset", "SOL"), "policy.rules[0].asset", ('or "*"',)),
    # unknown keys
    ("unknown section", _set("node", []), "node", ("unknown key 'node'", "did you mean 'nodes'")),
    ("unknown node key", _set("nodes.0.standbye", True), "nodes[0].standbye", ("did you mean 'standby'",)),
    (
        "unknown saas key",
        _set("saas.probe_windw", "3s"),
        "saas.probe_windw",
        ("did you mean 'probe_window'",),
    ),
    (
        "unknown rule key",
        _set("policy.rules.0.designated_signer", {"users": ["signer-a"]}),
        "policy.rules[0].designated_signer",
        ("a policy rule", "did you mean 'designated_signers'"),
    ),
    (
        "unknown expect key",
        _set("expect.max_failovr", "1m"),
        "expect.max_failovr",
        ("did you mean 'max_failover'",),
    ),
    (
        "unknown callback key",
        _set("callbacks.risk.latncy", "1s"),
        "callbacks.risk.latncy",
        ("did you mean 'latency'",),
    ),
    (
        "key of another fault action",
        _set("faults.0.ratio", 0.5),
        "faults[0].ratio",
        ("does not apply to a crash fault", "loss", "expected at, action, node, site, for"),
    ),
    ("misspelt fault key", _set("faults.1.fro", "1m"), "faults[1].fro", ("did you mean 'for'",)),
    (
        "key of the other arrival form",
        _set("workload.0.count", 2),
        "workload[0].count",
        ("either rate", "or at"),
    ),
    # malformed durations and wrong types
    (
        "malformed duration",
        _set("scenario.duration", "6 hours"),
        "scenario.duration",
        ('"1h40m"', "'6 hours'"),
    ),
    (
        "duration as a number",
        _set("saas.probe_window", 3),
        "saas.probe_window",
        ("a duration string", "got the integer 3"),
    ),
    ("zero duration", _set("scenario.duration", "0s"), "scenario.duration", ("longer than zero",)),
    ("malformed fault time", _set("faults.0.at", "30min"), "faults[0].at", ("a duration such as",)),
    ("malformed rate", _set("workload.0.rate", "2 per minute"), "workload[0].rate", ('"2/min"',)),
    (
        "seed as a string",
        _set("scenario.seed", "42"),
        "scenario.seed",
        ("expected an integer", "the string '42'"),
    ),
    ("negative seed", _set("scenario.seed", -1), "scenario.seed", ("from 0 to",)),
    (
        "standby not a bool",
        _set("nodes.2.standby", "yes"),
        "nodes[2].standby",
        ("expected true or false", "the string 'yes'"),
    ),
    (
        "standby an integer",
        _set("nodes.2.standby", 1),
        "nodes[2].standby",
        ("expected true or false", "the integer 1"),
    ),
    (
        "enclave unknown",
        _set("nodes.0.enclave", "tdx"),
        "nodes[0].enclave",
        ("one of sgx, nitro, gcp, communal",),
    ),
    (
        "members item type",
        _set("groups.0.members", ["signer-a", 3]),
        "groups[0].members[1]",
        ("the integer 3",),
    ),
    (
        "listed twice",
        _set("groups.0.members", ["signer-a", "signer-a"]),
        "groups[0].members[1]",
        ("at most once",),
    ),
    ("nodes as a table", _set("nodes", {"name": "x"}), "nodes", ("[[nodes]]", "got a table")),
    (
        "datetime value",
        _set("scenario.name", __import__("datetime").date(2024, 1, 1)),
        "scenario.name",
        ("the date-time 2024-01-01",),
    ),
    ("nan amount", _set("workload.0.amount.max", float("nan")), "workload[0].amount.max", ("finite",)),
    (
        "max below min",
        _set("workload.0.amount.max", 0.001),
        "workload[0].amount.max",
        ("at least the minimum 0.01",),
    ),
    (
        "loss ratio out of range",
        lambda d: d["faults"].append({"at": "2h", "action": "loss", "node": "nitro-a", "ratio": 1.5}),
        "faults[4].ratio",
        ("greater than 0 and at most 1",),
    ),
    ("price zero", _set("workspace.prices_usd.BTC", 0), "workspace.prices_usd.BTC", ("greater than 0",)),
    ("bad site path", _set("nodes.0.site", "aws//a"), "nodes[0].site", ("provider[/region[/zone]]",)),
    (
        "rule action",
        _set("policy.rules.0.action", "APPROVE"),
        "policy.rules[0].action",
        ("ALLOW, BLOCK, 2-TIER",),
    ),
    (
        "rule window",
        _set("policy.rules.0.over.window", "a day"),
        "policy.rules[0].over.window",
        ("a duration such as",),
    ),
    (
        "EUR without a price",
        _set("policy.rules.0.amount.currency", "EUR"),
        "policy.rules[0].amount.currency",
        ("EUR price",),
    ),
    ("version 2", _set("scenario.version", 2), "scenario.version", ("expected 1",)),
    # duplicates and limits
    (
        "duplicate node",
        _set("nodes.1.name", "nitro-a"),
        "nodes[1].name",
        ("already the name of nodes[0]", "unique node names"),
    ),
    (
        "duplicate user and API user",
        _set("api_users.0.name", "tywin"),
        "api_users[0].name",
        ("already the name of users[0]",),
    ),
    (
        "duplicate api id",
        _set("api_users.1.id", "7f1c1c1e-0000-4000-8000-000000000003"),
        "api_users[3].id",
        ("already the id of api_users[1]",),
    ),
    (
        "duplicate workload",
        _set("workload.1.name", "withdrawals"),
        "workload[1].name",
        ("unique workload names",),
    ),
    (
        "API user name too long",
        _set("api_users.0.name", "o" * 31),
        "api_users[0].name",
        ("at most 30 characters", "got 31"),
    ),
    (
        "two owners",
        lambda d: d["users"].extend([{"name": "a", "role": "OWNER"}, {"name": "b", "role": "OWNER"}]),
        "users[2].role",
        ("one OWNER at most",),
    ),
    ("name with spaces around", _set("users.0.name", " tywin"), "users[0].name", ("leading or trailing",)),
    ("reserved node name", _set("nodes.0.name", "saas"), "nodes[0].name", ("reserved",)),
    # topology rules of the product
    (
        "node serving a non-signer",
        _set("nodes.0.api_users", ["signer-a", "ops"]),
        "nodes[0].api_users[1]",
        ("'ops' has role EDITOR, which cannot sign", "SIGNER or ADMIN"),
    ),
    (
        "API user on two nodes",
        _set("nodes.1.api_users", ["signer-b", "signer-a"]),
        "nodes[1].api_users[1]",
        ("already paired with node nitro-a",),
    ),
    (
        "communal in mainnet",
        _set("nodes.0.enclave", "communal"),
        "nodes[0].enclave",
        ("testnet and sandbox", "mainnet"),
    ),
    (
        "viewer initiates",
        lambda d: (
            d["users"].append({"name": "v", "role": "VIEWER"}),
            d["workload"][0].update(initiator="v"),
        ),
        "workload[0].initiator",
        ("role VIEWER", "cannot initiate"),
    ),
    (
        "destination equals source",
        _set("workload.0.destination", "vault:hot"),
        "workload[0].destination",
        ("other than the source",),
    ),
    (
        "address type contradicts destination",
        _set("workload.0.destination_address", "one-time"),
        "workload[0].destination_address",
        ("'whitelisted'",),
    ),
    # faults aimed at nothing, times past the end
    (
        "fault with no target",
        _del("faults.0.node"),
        "faults[0]",
        ("exactly one target for a crash fault: node or site",),
    ),
    (
        "fault with two targets",
        _set("faults.0.site", "aws"),
        "faults[0].site",
        ("exactly one target", "got node, site"),
    ),
    ("link of one endpoint", _set("faults.2.link", ["nitro-b"]), "faults[2].link", ("two endpoints",)),
    (
        "callback fault on an unused callback",
        lambda d: (d["callbacks"].update(spare={}), d["faults"][3].update(callback="spare")),
        "faults[3].callback",
        ("no API user uses callback 'spare'",),
    ),
    (
        "fault past the end",
        _set("faults.0.at", "7h"),
        "faults[0].at",
        ("before the end of the run (scenario.duration = 6h)", "got 7h"),
    ),
    ("fault at the end", _set("faults.0.at", "6h"), "faults[0].at", ("before the end",)),
    ("workload past the end", _set("workload.1.at", "1d"), "workload[1].at", ("before the end",)),
    ("workload stop past the end", _set("workload.0.stop", "6h1s"), "workload[0].stop", ("at most the end",)),
    (
        "workload stop before start",
        lambda d: d["workload"][0].update(start="2h", stop="1h"),
        "workload[0].stop",
        ("after the start 2h",),
    ),
    ("window past the end", _set("expect.window.0.to", "7h"), "expect.window[0].to", ("at most the end",)),
    ("window backwards", _set("expect.window.0.to", "30m"), "expect.window[0].to", ("after from = 1h",)),
    (
        "for on a one-shot action",
        lambda d: d["faults"].append({"at": "2h", "action": "restart", "node": "nitro-a", "for": "1m"}),
        "faults[4].for",
        ("does not apply to a restart fault",),
    ),
    (
        "pair of a paired user",
        _add("faults", {"at": "2h", "action": "pair", "node": "nitro-b", "api_user": "signer-a"}),
        "faults[4].api_user",
        ("paired with node nitro-a at 2h", "unpair it first"),
    ),
    (
        "unpair of an unpaired user",
        _add("faults", {"at": "2h", "action": "unpair", "node": "nitro-b", "api_user": "signer-a"}),
        "faults[4].api_user",
        ("is paired with node nitro-a", "node nitro-b serves"),
    ),
    (
        "pair of a non-signer",
        _add("faults", {"at": "2h", "action": "pair", "node": "nitro-b", "api_user": "ops"}),
        "faults[4].api_user",
        ("cannot sign",),
    ),
    (
        "zero skew",
        _add("faults", {"at": "2h", "action": "clock-skew", "node": "nitro-b", "skew": "0s"}),
        "faults[4].skew",
        ("other than zero",),
    ),
    (
        "unsigned skew text",
        _add("faults", {"at": "2h", "action": "clock-skew", "node": "nitro-b", "skew": "5 minutes"}),
        "faults[4].skew",
        ('leading "-"',),
    ),
    (
        "unknown fault action",
        _set("faults.0.action", "reboot"),
        "faults[0].action",
        ("expected one of crash, restart, pause", "got 'reboot'"),
    ),
    (
        "callback fault mode",
        _set("faults.3.mode", "slow"),
        "faults[3].mode",
        ("timeout, reject, retry, down",),
    ),
    (
        "latency without amount",
        _del("faults.2.amount"),
        "faults[2].amount",
        ("required key is missing", "a duration"),
    ),
    # callbacks
    (
        "python and url",
        _set("callbacks.risk", {"python": "a.b:c", "url": "https://x"}),
        "callbacks.risk.url",
        ("at most one of python, asgi and url",),
    ),
    (
        "bad python target",
        _set("callbacks.risk", {"python": "mypkg.handlers.decide"}),
        "callbacks.risk.python",
        ('"module.path:attribute"',),
    ),
    (
        "behaviour key on a python callback",
        _set("callbacks.risk", {"python": "a.b:c", "action": "REJECT"}),
        "callbacks.risk.action",
        ("a python callback", "python, latency"),
    ),
    (
        "plain-http url",
        _set("callbacks.risk", {"url": "http://10.0.0.5:8443"}),
        "callbacks.risk.url",
        ("https://",),
    ),
    (
        "IGNORE for signing",
        _set("callbacks.risk.action", "IGNORE"),
        "callbacks.risk.action",
        ("approvals only",),
    ),
    # policy shape
    ("rules and file", _set("policy.fireblocks_json", "p.json"), "policy", ("either rules", "not both")),
    ("neither rules nor file", _set("policy", {}), "policy", ("either rules",)),
    (
        "missing policy file",
        _set("policy", {"fireblocks_json": "no/such.json"}),
        "policy.fireblocks_json",
        ("cannot read 'no/such.json'", "readable JSON file"),
    ),
    # required parts
    ("no scenario", _del("scenario"), "scenario", ("required table [scenario] is missing",)),
    ("no nodes", _del("nodes"), "nodes", ("at least one [[nodes]]",)),
    ("empty nodes", _set("nodes", []), "nodes", ("at least one [[nodes]]",)),
    (
        "no duration",
        _del("scenario.duration"),
        "scenario.duration",
        ("required key is missing", "a duration string"),
    ),
    ("no arrival form", lambda d: d["workload"][0].pop("rate"), "workload[0]", ("rate =", "at =")),
]


@pytest.mark.parametrize(("change", "path", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refusal(change: Callable[[dict[str, Any]], object], path: str, expected: tuple[str, ...]) -> None:
    assert_refused(refused(change), path, *expected)


def test_every_problem_is_reported_in_one_pass() -> None:
    def many(data: dict[str, Any]) -> None:
        data["scenario"]["duration"] = "6 hours"
        data["nodes"][0]["enclave"] = "sgxx"
        data["nodes"][2]["standby"] = "yes"
        data["faults"][0]["node"] = "nitro-c"
        data["saas"]["probe_windw"] = "3s"

    error = refused(many)
    assert set(error.paths) == {
        "scenario.duration",
        "nodes[0].enclave",
        "nodes[2].standby",
        "faults[0].node",
        "saas.probe_windw",
    }
    assert str(error).startswith("5 problems in case.toml:\n")
    assert isinstance(error, ValueError)


def test_one_mistake_does_not_cascade() -> None:
    """A node with a bad enclave still counts as declared: faults naming it get no second error."""
    error = refused(_set("nodes.0.enclave", "sgxx"))
    assert error.paths == ("nodes[0].enclave",)
    error = refused(_set("api_users.1.role", "SIGNR"))
    assert error.paths == ("api_users[1].role",)


def test_the_file_name_leads_every_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(EXAMPLE.replace('node = "nitro-a"', 'node = "nitro-z"'))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: faults[0].node: {NODES}; got 'nitro-z' (did you mean 'nitro-b'?)"


def test_toml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[scenario]\nname = "x"\nseed = = 4\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (3, 8)
    assert str(info.value).startswith(f"{path}:3:8: invalid TOML: ")


def test_toml_error_at_the_end_of_the_document() -> None:
    with pytest.raises(ScenarioError, match=r"^s\.toml:\d+:\d+: invalid TOML"):
        load_scenario_text('[scenario]\nname = "x', "s.toml")


def test_a_file_that_is_not_utf8_gives_its_position(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[scenario]\nname = "caf\xe9"\n')
    with pytest.raises(ScenarioError, match=r":2:12: expected UTF-8 text"):
        load_scenario(path)


def test_a_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_invalid_policy_json_gives_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"rules": [\n  {"action": "ALLOW",}\n]}')
    data = copy.deepcopy(EXAMPLE_DICT)
    data["policy"] = {"fireblocks_json": "p.json"}
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, "case.toml", base_dir=tmp_path)
    assert_refused(
        info.value,
        "policy.fireblocks_json",
        "'p.json' is not valid JSON: invalid JSON at line 2 column 22: Expecting property name",
    )


def test_a_non_table_document_is_refused() -> None:
    with pytest.raises(ScenarioError, match="expected a table of sections"):
        scenario_from_dict([], "x")  # type: ignore[arg-type]


def test_an_unknown_fault_action_is_the_only_problem_of_its_fault() -> None:
    assert refused(_set("faults.0.action", "reboot")).paths == ("faults[0].action",)


def test_an_array_of_choices_names_the_choices_unmangled() -> None:
    """The item's description is quoted as it is (it once became "nitro-a, nitro-bs")."""
    from cosigner_ha.cluster.scenario import ScenarioError, scenario_from_dict

    data = {
        "scenario": {"name": "x", "seed": 1, "duration": "1h"},
        "workspace": {"name": "w", "vaults": ["0"]},
        "api_users": [{"name": "signer-a", "role": "SIGNER"}, {"name": "signer-b", "role": "SIGNER"}],
        "nodes": [{"name": "n", "enclave": "sgx", "site": "a/b", "api_users": "signer-a"}],
    }
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, "x.toml")
    assert (
        "nodes[0].api_users: expected an array, each item one of the API user names: signer-a, signer-b"
        in str(info.value)
    )
