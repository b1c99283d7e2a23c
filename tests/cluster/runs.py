"""Small scenarios run end to end, and a view of their traces in scenario time.

The fault, runner and scenario tests share these: a two-node cluster (a Nitro node in AWS, an SGX node on
premises) with a steady workload, so that every fault's effect shows as a change in who signs, when, and
what the trace says. Runs take well under a second of wall time each; a scripted callback handler costs
about a second more the first time (its RSA key), then comes from the key cache.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cosigner_ha.cluster.report import RunReport
from cosigner_ha.cluster.runner import RunResult, run_scenario
from cosigner_ha.cluster.scenario import scenario_from_dict
from cosigner_ha.env import Event

MINUTE = 60.0

BASE: dict[str, Any] = {
    "scenario": {"name": "small", "seed": 1, "duration": "20m"},
    "workspace": {
        "name": "acme",
        "prices_usd": {"ETH": 3000},
        "vaults": ["hot"],
        "exchanges": ["exch"],
        "wallets": ["out"],
    },
    "users": [{"name": "tywin", "role": "OWNER"}],
    "api_users": [
        {"name": "ops", "role": "EDITOR"},
        {"name": "sa", "role": "SIGNER"},
        {"name": "sb", "role": "SIGNER"},
    ],
    "nodes": [
        {"name": "a", "enclave": "nitro", "site": "aws/us-east-1/a", "api_users": ["sa"]},
        {"name": "b", "enclave": "sgx", "site": "onprem/dc1", "api_users": ["sb"]},
    ],
    "workload": [
        {
            "name": "w",
            "rate": "3/min",
            "initiator": "ops",
            "asset": "ETH",
            "amount": {"min": 1},
            "source": "vault:hot",
            "destination": "wallet:out",
        }
    ],
}


def scenario_dict(
    faults: Iterable[Mapping[str, Any]] = (), *, callback: Mapping[str, Any] | None = None, **sections: Any
) -> dict[str, Any]:
    """The base scenario with `faults`; `callback` gives both signers one scripted handler `cb`."""
    data = copy.deepcopy(BASE)
    data["faults"] = [dict(f) for f in faults]
    if callback is not None:
        data["callbacks"] = {"cb": dict(callback)}
        for user in data["api_users"]:
            if user["role"] == "SIGNER":
                user["callback"] = "cb"
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


@dataclass
class Run:
    """A finished run, with times counted from `scenario_start` (the end of setup), in seconds."""

    result: RunResult
    t0: float
    start: int  # index of the `scenario_start` event: what came before it is setup

    @property
    def report(self) -> RunReport:
        return self.result.report

    @property
    def events(self) -> Sequence[Event]:
        return self.result.events

    def at(self, event: Event) -> float:
        return round(event.t - self.t0, 6)

    def of(self, kind: str, **match: Any) -> list[Event]:
        """Events of `kind` during the scenario whose fields equal `match`."""
        return [
            e
            for e in self.events[self.start + 1 :]
            if e.kind == kind and all(e.fields.get(key) == value for key, value in match.items())
        ]

    def between(self, kind: str, start: float, stop: float, **match: Any) -> list[Event]:
        return [e for e in self.of(kind, **match) if start <= self.at(e) < stop]

    def signed(self, node: str, start: float = 0.0, stop: float = float("inf")) -> int:
        """How many signatures `node` released in [start, stop)."""
        return len(self.between("signed", start, stop, node=node))

    def statuses(self) -> dict[str, int]:
        return dict(self.report.by_status)

    def states(self, node: str) -> list[tuple[float, str, str]]:
        """The node's (time, state, reason) changes during the scenario."""
        return [(self.at(e), e.fields["state"], e.fields["reason"]) for e in self.of("node_state", node=node)]


def run(data: Mapping[str, Any], *, seed: int | None = None) -> Run:
    result = run_scenario(scenario_from_dict(data), seed=seed, keep_events=True)
    start = next(i for i, e in enumerate(result.events) if e.kind == "scenario_start")
    return Run(result, result.events[start].t, start)


def run_faults(*faults: Mapping[str, Any], callback: Mapping[str, Any] | None = None, **sections: Any) -> Run:
    return run(scenario_dict(faults, callback=callback, **sections))
