"""docs/scenarios.md stays in step with the loader: its example loads, and every key is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cluster.scenario import FaultAction, load_scenario_text, scenario_to_dict, to_toml
from cosigner_ha.cluster.scenario.keys import FAULT_KEYS, FAULT_TARGETS, SECTIONS, WORKLOAD_KEYS
from cosigner_ha.cluster.scenario.rules import RULE_KEYS

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
TEXT = DOC.read_text(encoding="utf-8")


def example() -> str:
    match = re.search(r"## Complete example\s+```toml\n(.*?)```", TEXT, re.DOTALL)
    assert match, "docs/scenarios.md has no toml block under '## Complete example'"
    return match.group(1)


def test_the_documented_example_loads() -> None:
    scenario = load_scenario_text(example(), "docs/scenarios.md")
    assert scenario.name == "active-active-passive"
    assert {f.action for f in scenario.faults} >= {
        FaultAction.CRASH,
        FaultAction.SITE_OUTAGE,
        FaultAction.PAIR,
    }
    assert load_scenario_text(to_toml(scenario)) == scenario


def _keys(value: Any, skip: frozenset[str] = frozenset({"prices_usd", "callbacks"})) -> set[str]:
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(key)
            if key not in skip:
                out |= _keys(item)
            elif key == "callbacks":
                for callback in item.values():
                    out |= set(callback)
    elif isinstance(value, list):
        for item in value:
            out |= _keys(item)
    return out


def documented_keys() -> set[str]:
    full = scenario_to_dict(load_scenario_text(example()), full=True)
    keys = _keys(full) | set(SECTIONS) | set(WORKLOAD_KEYS) | set(RULE_KEYS)
    keys |= {k for ks in FAULT_KEYS.values() for k in ks} | {k for ks in FAULT_TARGETS.values() for k in ks}
    keys |= {a.value for a in FaultAction} | {"python", "asgi", "url", "timeout_first_n", "retry_first_n"}
    return keys - {"BTC", "ETH", "USDC"}


@pytest.mark.parametrize("key", sorted(documented_keys()))
def test_every_key_is_documented(key: str) -> None:
    forms = (f"`{key}`", f"`[{key}]`", f"`[[{key}]]`", f"`[{key}.<name>]`")
    assert any(form in TEXT for form in forms), f"docs/scenarios.md does not document `{key}`"
