"""Writing scenarios back: to_toml loads to an equal model, the content hash, atomic writes, and a loader
that has no other way to fail than ScenarioError."""

from __future__ import annotations

import copy
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosigner_ha.cluster.scenario import (
    Scenario,
    ScenarioError,
    content_hash,
    format_duration,
    load_scenario,
    load_scenario_text,
    scenario_from_dict,
    scenario_to_dict,
    to_toml,
    write_scenario,
)
from cosigner_ha.cluster.scenario.keys import FAULT_TARGETS, FAULTS_WITH_FOR
from cosigner_ha.cluster.scenario.model import FaultAction
from tests.cluster.test_scenario_loader import EXAMPLE, EXAMPLE_DICT

IDENT = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,8}", fullmatch=True)
# People's names as the console allows them: letters, digits, punctuation, inner spaces, any script.
PERSON = (
    st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)
SIGNING = ["SIGNER", "ADMIN"]
NON_SIGNING = ["EDITOR", "NON_SIGNING_ADMIN", "APPROVER", "VIEWER"]


def seconds(draw: st.DrawFn, low: float, high: float) -> float:
    """A time: usually whole milliseconds (compound units), sometimes any float (decimal seconds)."""
    if draw(st.booleans()):
        return draw(st.integers(math.ceil(low * 1000), math.ceil(high * 1000) - 1)) / 1000  # below high
    return draw(st.floats(low, high, exclude_max=True))


def duration_text(draw: st.DrawFn, low: float, high: float, *, positive: bool = False) -> str:
    value = seconds(draw, low, high)
    if positive and value <= 0:
        value = high / 2
    return format_duration(value)


@st.composite
def scenario_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Valid scenario files, as the dict TOML parses to, over the whole format."""
    end = draw(st.integers(60, 30 * 86400)) + draw(st.sampled_from([0.0, 0.5, 0.001]))
    env = draw(st.sampled_from(["mainnet", "testnet", "sandbox"]))
    assets = draw(st.lists(st.sampled_from(["BTC", "ETH", "USDC", "SOL", "EUR"]), min_size=1, unique=True))
    number = st.floats(0.01, 1e9, allow_nan=False) | st.integers(1, 10**9)
    workspace: dict[str, Any] = {
        "name": draw(PERSON),
        "env": env,
        "prices_usd": {a: draw(number) for a in assets},
        "vaults": draw(st.lists(IDENT, min_size=1, max_size=4, unique=True)),
        "wallets": draw(st.lists(IDENT, min_size=1, max_size=3, unique=True)),
    }
    for key in ("exchanges", "fiat_accounts"):
        if draw(st.booleans()):
            workspace[key] = draw(st.lists(IDENT, max_size=3, unique=True))
    data: dict[str, Any] = {
        "scenario": {
            "name": draw(PERSON),
            "seed": draw(st.integers(0, 2**63 - 1)),
            "duration": format_duration(end),
        },
        "workspace": workspace,
    }
    if draw(st.booleans()):
        data["scenario"]["description"] = draw(st.text(max_size=30))
    if draw(st.booleans()):
        data["saas"] = {
            "probe_window": duration_text(draw, 0.001, 60, positive=True),
            "selection": draw(st.sampled_from(["first-responder", "listed-order"])),
            "callback_retry_attempts": draw(st.integers(0, 50)),
            "owner_approval_latency": duration_text(draw, 0, 3600),
        }

    people = draw(st.lists(PERSON, min_size=2, max_size=10, unique=True))
    split = draw(st.integers(0, len(people) - 2))
    users = [
        {"name": n, "role": draw(st.sampled_from(["ADMIN", "SIGNER", "EDITOR", "VIEWER"]))}
        for n in people[:split]
    ]
    api_names = [n[:30] for n in people[split:]]
    if len(set(api_names) | set(people[:split])) != len(people):
        api_names = [f"api-{i}" for i in range(len(people) - split)]
    callbacks: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["scripted", "python", "asgi", "url"]))
        if kind == "scripted":
            cb: dict[str, Any] = {
                "latency": duration_text(draw, 0, 10),
                "action": draw(st.sampled_from(["APPROVE", "REJECT", "RETRY"])),
                "retry_first_n": draw(st.integers(0, 5)),
            }
            if draw(st.booleans()):
                cb["reject_above_usd"] = draw(number)
        elif kind == "url":
            cb = {"url": f"https://cb{i}.example:8443/fb"}
        else:
            cb = {kind: f"handlers.mod{i}:app", "latency": duration_text(draw, 0, 1)}
        callbacks[f"cb-{i}"] = cb
    api_users = []
    for name in api_names:
        entry: dict[str, Any] = {"name": name, "role": draw(st.sampled_from(SIGNING + NON_SIGNING))}
        if callbacks and draw(st.booleans()):
            entry["callback"] = draw(st.sampled_from(sorted(callbacks)))
        api_users.append(entry)
    api_users[0]["role"] = "SIGNER"  # at least one signer, so that nodes have someone to serve
    signers = [u["name"] for u in api_users if u["role"] in SIGNING]
    data["users"] = users
    data["api_users"] = api_users
    if callbacks:
        data["callbacks"] = callbacks
    everyone = [u["name"] for u in users] + api_names
    groups = [
        {"name": f"group-{i}", "members": draw(st.lists(st.sampled_from(everyone), min_size=1, unique=True))}
        for i in range(draw(st.integers(0, 2)))
    ]
    if groups:
        data["groups"] = groups

    # mainnet: self-hosted only; testnet: either; sandbox: the communal co-signer only
    enclaves = {"mainnet": ["sgx", "nitro", "gcp"], "sandbox": ["communal"]}.get(
        env, ["sgx", "nitro", "gcp", "communal"]
    )
    sites = [
        "aws/us-east-1/a",
        "aws/us-east-1/b",
        "aws/eu-west-1/a",
        "gcp/europe-west4",
        "onprem/dc1",
        "onprem",
    ]
    nodes = []
    owner = {name: draw(st.integers(0, 3)) for name in signers}
    for i in range(draw(st.integers(1, 4))):
        node: dict[str, Any] = {
            "name": f"node-{i}",
            "enclave": draw(st.sampled_from(enclaves)),
            "site": draw(st.sampled_from(sites)),
            "api_users": [name for name in signers if owner[name] == i],
        }
        if draw(st.booleans()):
            node["standby"] = draw(st.booleans())
        nodes.append(node)
    data["nodes"] = nodes
    node_names = [n["name"] for n in nodes]

    accounts = {"vault": workspace["vaults"], "wallet": workspace["wallets"]}
    if draw(st.booleans()):
        rules = []
        for _ in range(draw(st.integers(0, 3))):
            rule: dict[str, Any] = {"action": draw(st.sampled_from(["ALLOW", "BLOCK", "2-TIER"]))}
            if draw(st.booleans()):
                rule["initiator"] = draw(st.sampled_from(["*", *everyone]))
            if draw(st.booleans()):
                rule["source"] = draw(
                    st.sampled_from(["*", "vault:*"] + [f"vault:{v}" for v in workspace["vaults"]])
                )
            if draw(st.booleans()):
                rule["amount"] = {
                    "min": draw(st.integers(0, 1000)),
                    "currency": draw(st.sampled_from(["USD", "NATIVE"])),
                }
            if draw(st.booleans()):
                rule["over"] = {
                    "window": duration_text(draw, 1, 86400 * 7, positive=True),
                    "per": ["initiator"],
                }
            if groups and draw(st.booleans()):
                rule["designated_signers"] = {"groups": [groups[0]["name"]]}
            if rule["action"] == "2-TIER":
                rule["approvers"] = {"groups": [{"users": everyone[:1], "threshold": 1}], "logic": "OR"}
            rules.append(rule)
        data["policy"] = {"rules": rules}

    initiators = [u["name"] for u in users + api_users if u["role"] in ("ADMIN", "SIGNER", "EDITOR")]
    workloads = []
    for i in range(draw(st.integers(0, 3)) if initiators else 0):
        low = draw(st.floats(0, 1e6, allow_nan=False, exclude_min=True))  # a TRANSFER moves something
        workload: dict[str, Any] = {
            "name": f"w{i}",
            "initiator": draw(st.sampled_from(initiators)),
            "asset": draw(st.sampled_from(assets)),
            "amount": {"min": low, "max": low + draw(st.floats(0, 1e6, allow_nan=False))},
            "source": f"vault:{workspace['vaults'][0]}",
            "destination": draw(
                st.sampled_from([f"wallet:{w}" for w in accounts["wallet"]] + ["one-time:0xabc"])
            ),
        }
        if draw(st.booleans()):
            workload["rate"] = draw(st.sampled_from(["2/min", "1/s", "30/h", "0.5/min", "100/d"]))
            if draw(st.booleans()):
                workload["start"] = format_duration(end / 4)
                workload["stop"] = format_duration(end / 2)
        else:
            workload["at"] = duration_text(draw, 0, end)
            workload["count"] = draw(st.integers(1, 10))
        workloads.append(workload)
    if workloads:
        data["workload"] = workloads

    used_callbacks = sorted({u["callback"] for u in api_users if "callback" in u})
    paired = {name: f"node-{owner[name]}" for name in signers if owner[name] < len(nodes)}
    # a sandbox pairs every signing API user with its communal co-signer at once: none is left to `pair`
    unpaired = [] if env == "sandbox" else [name for name in signers if name not in paired]
    faults = []
    for _ in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(list(FaultAction)))
        fault: dict[str, Any] = {"at": duration_text(draw, 0, end), "action": action.value}
        targets = FAULT_TARGETS[action]
        target = draw(st.sampled_from(targets)) if targets else None
        if action in (FaultAction.PAIR, FaultAction.UNPAIR):
            pool = unpaired if action is FaultAction.PAIR else sorted(paired)
            if not pool:
                continue
            user = draw(st.sampled_from(pool))
            pool.remove(user)  # each user's pairing changes at most once: the timeline stays consistent
            fault["api_user"] = user
            fault["node"] = (
                draw(st.sampled_from(node_names)) if action is FaultAction.PAIR else paired.pop(user)
            )
        elif target == "node":
            fault["node"] = draw(st.sampled_from(node_names))
        elif target == "site":
            fault["site"] = "/".join(
                draw(st.sampled_from(nodes))["site"].split("/")[: draw(st.integers(1, 3))]
            )
        elif target == "link":
            fault["link"] = draw(
                st.lists(st.sampled_from(["saas", *node_names]), min_size=2, max_size=2, unique=True)
            )
        elif target == "callback":
            if not used_callbacks:
                continue
            fault["callback"] = draw(st.sampled_from(used_callbacks))
        if action in FAULTS_WITH_FOR and draw(st.booleans()):
            fault["for"] = duration_text(draw, 0.001, end, positive=True)
        if action is FaultAction.LATENCY:
            fault["amount"] = duration_text(draw, 0.001, 10, positive=True)
        elif action is FaultAction.LOSS:
            fault["ratio"] = draw(st.floats(0.001, 1))
        elif action is FaultAction.CALLBACK:
            fault["mode"] = draw(st.sampled_from(["timeout", "reject", "retry", "down"]))
        elif action is FaultAction.DISK_LOSS:
            fault["backup"] = draw(st.booleans())
        elif action is FaultAction.CLOCK_SKEW:
            fault["skew"] = draw(st.sampled_from(["-5m", "90s", "1h", "-250ms"]))
        elif action is FaultAction.POLICY:
            fault["rules"] = [{"action": "BLOCK"}]
        faults.append(fault)
    if faults:
        data["faults"] = faults

    if draw(st.booleans()):
        expect: dict[str, Any] = {
            "no_nonce_reuse": draw(st.booleans()),
            "min_completed_ratio": draw(st.floats(0, 1)),
        }
        if draw(st.booleans()):
            expect["max_failover"] = duration_text(draw, 0.001, 600, positive=True)
        if draw(st.booleans()):
            start = seconds(draw, 0, end / 2)
            expect["window"] = [
                {"from": format_duration(start), "to": format_duration(end), "signed_by": node_names[:1]}
            ]
        data["expect"] = expect
    return data


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(scenario_dicts())
def test_generated_valid_scenarios_load_and_round_trip_through_toml(data: dict[str, Any]) -> None:
    scenario = scenario_from_dict(data, "generated.toml")
    text = to_toml(scenario)
    again = load_scenario_text(text, "dumped.toml")
    assert again == scenario
    assert content_hash(again) == content_hash(scenario)
    # The full form (every default written out) is a valid file too, and the same scenario.
    assert scenario_from_dict(scenario_to_dict(scenario, full=True)) == scenario
    # Dumping is a fixed point: what was dumped once dumps the same again.
    assert to_toml(again) == text


def test_the_dump_is_a_readable_file_in_the_documented_order() -> None:
    text = to_toml(load_scenario_text(EXAMPLE))
    order = [
        text.index(h)
        for h in (
            "[scenario]",
            "[workspace]",
            "[[users]]",
            "[[api_users]]",
            "[[nodes]]",
            "[[faults]]",
            "[expect]",
        )
    ]
    assert order == sorted(order)
    assert "[workload.amount]" in text and "[[policy.rules]]" in text
    assert 'duration = "6h"' in text and 'max_failover = "1m"' in text
    assert "callback_retry_attempts" not in text  # defaults are left out


def test_a_policy_file_round_trips_by_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"rules": []}')
    data = copy.deepcopy(EXAMPLE_DICT)
    data["policy"] = {"fireblocks_json": "p.json"}
    scenario = scenario_from_dict(data, "s.toml", base_dir=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = load_scenario(write_scenario(scenario, elsewhere / "dumped.toml"))
    assert again == scenario


# -- content hash --------------------------------------------------------------------------------------


def test_equal_scenarios_hash_equal_wherever_they_come_from(tmp_path: Path) -> None:
    a = load_scenario_text(EXAMPLE, "a.toml")
    path = tmp_path / "b.toml"
    path.write_text(EXAMPLE)
    b = load_scenario(path)
    assert content_hash(a) == content_hash(b) == content_hash(a)
    assert len(content_hash(a)) == 64
    # Writing a default explicitly is the same scenario.
    explicit = load_scenario_text(EXAMPLE.replace("[saas]\n", '[saas]\nlong_poll_interval = "30s"\n'))
    assert explicit == a and content_hash(explicit) == content_hash(a)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("seed = 42", "seed = 43"),
        ('at = "30m"', 'at = "31m"'),
        ('probe_window = "2s"', 'probe_window = "2001ms"'),
        ('action = "2-TIER"', 'action = "ALLOW"'),
        ("standby = true", "standby = false"),
    ],
)
def test_any_change_changes_the_hash(old: str, new: str) -> None:
    assert old in EXAMPLE
    assert content_hash(load_scenario_text(EXAMPLE.replace(old, new))) != content_hash(
        load_scenario_text(EXAMPLE)
    )


def test_the_hash_follows_the_policy_files_content_not_its_place(tmp_path: Path) -> None:
    def with_policy(folder: Path, content: str) -> Scenario:
        folder.mkdir(exist_ok=True)
        (folder / "p.json").write_text(content)
        data = copy.deepcopy(EXAMPLE_DICT)
        data["policy"] = {"fireblocks_json": "p.json"}
        return scenario_from_dict(data, "s.toml", base_dir=folder)

    one = with_policy(tmp_path / "one", '{"rules": []}')
    two = with_policy(tmp_path / "two", '{"rules": []}')
    changed = with_policy(tmp_path / "three", '{"rules": [{}]}')
    assert content_hash(one) == content_hash(two) != content_hash(changed)


# -- writing -------------------------------------------------------------------------------------------


def test_write_scenario_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario_text(EXAMPLE)
    target = tmp_path / "out.toml"
    target.write_text("old content")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_scenario(scenario, target)
    assert target.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.toml"]  # no temporary file left behind
    monkeypatch.undo()
    write_scenario(scenario, target)
    assert load_scenario(target) == scenario
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.toml"]


def test_write_scenario_into_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_scenario(load_scenario_text(EXAMPLE), tmp_path / "missing" / "out.toml")
    assert list(tmp_path.iterdir()) == []


# -- the loader fails only with ScenarioError ----------------------------------------------------------

TOML_VALUES = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["6h", "nitro-a", "aws", "vault:hot", "2/min", "SIGNER", "crash", "*"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


EXAMPLE_PATHS = _paths(EXAMPLE_DICT)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXAMPLE_PATHS), TOML_VALUES)
def test_any_one_change_loads_or_raises_scenario_error(path: tuple[Any, ...], value: Any) -> None:
    data = copy.deepcopy(EXAMPLE_DICT)
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    try:
        scenario = scenario_from_dict(data, "fuzz.toml")
    except ScenarioError as error:
        assert all(str(p).startswith("fuzz.toml") for p in error.problems)
        return
    assert load_scenario_text(to_toml(scenario)) == scenario


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_raises_scenario_error(text: str) -> None:
    try:
        scenario = load_scenario_text(text, "text.toml")
    except ScenarioError as error:
        assert error.problems and all(p.origin == "text.toml" for p in error.problems)
        return
    assert load_scenario_text(to_toml(scenario)) == scenario


def test_the_example_dict_is_what_tomllib_reads() -> None:
    assert tomllib.loads(EXAMPLE) == EXAMPLE_DICT
