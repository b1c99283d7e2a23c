"""A run's report is folded from its events as they are written, and the run keeps none of them unless
asked: the report equals the analysis of the whole trace, the file and hash are unchanged, and the compact
forms (the transaction table, the invariant folds) read back exactly what the events said."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.cluster import invariants
from cosigner_ha.cluster.analysis import analyse
from cosigner_ha.cluster.bundled import find_scenario, load
from cosigner_ha.cluster.report import SignatureMark, TxPoint
from cosigner_ha.cluster.runner import EventsNotKept, run_scenario
from cosigner_ha.cluster.tx_table import TxTable, workload_of
from cosigner_ha.env import Event, Trace
from cosigner_ha.testing import read_trace

TERMINAL = invariants.TERMINAL_KINDS


def _same_report(a: Any, b: Any) -> None:
    assert a.to_json() | {"wall_seconds": 0} == b.to_json() | {"wall_seconds": 0}
    assert list(a.transactions) == list(b.transactions)
    assert list(a.signatures) == list(b.signatures)
    assert (a.lanes, a.faults, a.impacts) == (b.lanes, b.faults, b.impacts)


def test_a_run_keeps_no_events_unless_asked_and_reports_the_same(tmp_path: Path) -> None:
    scenario = load(find_scenario(Path("single-cosigner")))
    lean = run_scenario(scenario, trace_path=tmp_path / "trace.jsonl")
    with pytest.raises(EventsNotKept, match="keep_events=True"):
        lean.events  # noqa: B018
    kept = run_scenario(scenario, keep_events=True)
    assert len(kept.events) > 100
    _same_report(lean.report, kept.report)
    # the streamed report equals the analysis of the whole trace: kept in memory, or read back from the file
    again = analyse(
        scenario, kept.events, seed=kept.report.seed, trace_hash=kept.report.trace_hash, wall_seconds=0
    )
    _same_report(lean.report, again)
    from_file = analyse(
        scenario, read_trace(tmp_path / "trace.jsonl"), seed=lean.report.seed, trace_hash="", wall_seconds=0
    )
    _same_report(lean.report, dataclasses.replace(from_file, trace_hash=lean.report.trace_hash))


def test_a_trace_that_keeps_nothing_still_writes_hashes_and_feeds_every_event_in_file_order() -> None:
    now = [5.0]
    kept, lean = (Trace(lambda: now[0], {"seed": 1}, keep=keep) for keep in (True, False))
    fed: list[Event] = []
    lean.consume(fed.append)
    for trace in (kept, lean):
        trace.hold()
        trace.record("boot", node="n1")  # set-up: held, then written with its time from the origin
    now[0] = 7.5
    for trace in (kept, lean):
        trace.set_origin(7.0)
        trace.record("scenario_start")
        trace.record("tick", n=1)
    assert len(lean.events) == 0 and lean.count == kept.count == 3
    assert fed == list(kept.events)
    assert [(e.t, e.kind) for e in fed] == [(-2.0, "boot"), (0.5, "scenario_start"), (0.5, "tick")]
    assert lean.hash == kept.hash


def test_rows_read_like_the_tuple_they_stand_for_and_pickle_as_one() -> None:
    table = TxTable()
    for i, kind in enumerate(["submitted", "policy_decision", "signed", "completed"]):
        fields: dict[str, Any] = {"tx": "tx-1"}
        if kind == "submitted":
            fields |= {"external_id": "pay-3", "workspace": "acme"}
        if kind == "policy_decision":
            fields |= {"status": "PENDING_SIGNATURE", "rule": 2}
        if kind == "signed":
            fields |= {"node": "n1", "api_user": "signer-a"}
        if kind == "completed":
            fields |= {"status": "COMPLETED", "latency": 1.5, "reason": "signed by n1"}
        table.feed(Event(10.0 + i, kind, fields))
    points, marks = table.points(10.0), table.signatures(10.0)
    expected = (TxPoint(0.0, 3.0, "COMPLETED", None, 1.5, "n1", "tx-1", None, "signed by n1", "pay", 2),)
    assert points == expected and tuple(points) == expected and points[-1] == expected[0]
    assert marks == [SignatureMark(2.0, "n1", "tx-1", "signer-a")] and marks[0:1] == list(marks)
    assert (
        pickle.loads(pickle.dumps(points)) == expected and type(pickle.loads(pickle.dumps(points))) is tuple
    )
    with pytest.raises(IndexError):
        points[1]


# -- the compact forms against a plain reading of the same events -------------------------------------


def reference_points(events: Sequence[Event], t0: float) -> list[TxPoint]:
    """The transaction points as the analysis read them before it was a fold: dicts over all events."""
    submitted: dict[str, Event] = {}
    terminal: dict[str, Event] = {}
    last_status: dict[str, str] = {}
    signed_node: dict[str, str] = {}
    rules: dict[str, int | None] = {}
    for e in events:
        tx = str(e.fields.get("tx"))
        if e.kind == "submitted":
            submitted[tx] = e
            last_status[tx] = "SUBMITTED"
        elif e.kind == "policy_decision":
            last_status[tx] = e.fields["status"]
            rules[tx] = e.fields.get("rule")
        elif e.kind == "tx_status":
            last_status[tx] = e.fields.get("status", last_status.get(tx, ""))
        elif e.kind in TERMINAL and "tx" in e.fields:
            terminal[tx] = e
        elif e.kind == "signed":
            signed_node[tx] = e.fields["node"]
    points = []
    for tx, sub in submitted.items():
        end = terminal.get(tx)
        status = end.fields["status"] if end else last_status.get(tx, "SUBMITTED")
        points.append(
            TxPoint(
                t_submitted=sub.t - t0,
                t_terminal=None if end is None else end.t - t0,
                status=status,
                sub_status=None if end is None else end.fields.get("sub_status"),
                latency=end.fields.get("latency") if end and status == "COMPLETED" else None,
                node=signed_node.get(tx),
                tx=tx,
                cause=None if end is None else end.fields.get("cause"),
                reason="" if end is None else str(end.fields.get("reason", "")),
                workload=workload_of(sub.fields.get("external_id")),
                rule=rules.get(tx),
            )
        )
    return points


STATUSES = ["PENDING_SIGNATURE", "PENDING_AUTHORIZATION", "BLOCKED", "COMPLETED", "FAILED"]


@st.composite
def event_lists(draw: st.DrawFn) -> list[Event]:
    """Events about a few transactions in any order: duplicates, ends before submissions, odd values."""
    txs = ["tx-1", "tx-2", "tx-3"]
    out = []
    for i in range(draw(st.integers(0, 40))):
        kind = draw(
            st.sampled_from(
                ["submitted", "policy_decision", "tx_status", "signed", *TERMINAL, "approval", "nonce_used",
                 "share_released", "dispatched", "mpc_round", "probe_sent", "probe_answered", "probe_result"]
            )
        )  # fmt: skip
        tx = draw(st.sampled_from(txs))
        f: dict[str, Any] = {"tx": tx}
        if kind == "submitted":
            f |= {
                "external_id": draw(st.sampled_from(["w-1", "other", None])),
                "source": draw(st.sampled_from(["vault:0", "exchange:x"])),
            }
        elif kind in ("policy_decision", "tx_status") or kind in TERMINAL:
            if kind != "tx_status" or draw(st.booleans()):
                f["status"] = draw(st.sampled_from(STATUSES))
            f |= {
                "rule": draw(st.sampled_from([None, 1, 2])),
                "designated_signers": draw(st.sampled_from([[], ["a"], ["a", "b"]])),
            }
            f |= {
                "latency": draw(st.sampled_from([1.5, 2, None])),
                "sub_status": draw(st.sampled_from([None, "TIMEOUT"])),
            }
        elif kind == "signed":
            f |= {
                "node": draw(st.sampled_from(["n1", "n2"])),
                "api_user": draw(st.sampled_from(["a", "b"])),
                "cosigner": "n1",
            }
            f |= {"public_key": "00" * 32, "signature": "00" * 64, "message": "00"}
        elif kind == "approval":
            f["outcome"] = draw(st.sampled_from(["APPROVED", "REJECTED"]))
        elif kind in ("nonce_used", "share_released"):
            nonce = draw(st.sampled_from(["aa", "bb", "AB", "xyz"]))
            f |= {
                "party": "cloud",
                "nonce": nonce,
                "node": "n1",
                "nonce_id": nonce,
                "session": draw(st.sampled_from(["s1", "s2"])),
            }
        elif kind in ("dispatched", "mpc_round"):
            f |= {
                "session": draw(st.sampled_from(["s1", "s2"])),
                "signers": draw(st.sampled_from([[1, 2, 3], [1, 2]])),
            }
        else:
            f |= {
                "probe": draw(st.sampled_from(["p1", "p2"])),
                "cosigner": draw(st.sampled_from(["n1", "n2"])),
            }
            f |= {
                "available": draw(st.booleans()),
                "standby": draw(st.booleans()),
                "chosen": draw(st.sampled_from([None, "n1", "n2"])),
            }
        out.append(Event(float(i), kind, f))
    return out  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(event_lists(), st.sampled_from([0.0, 2.5]))
def test_the_transaction_table_reads_what_a_plain_reading_of_the_events_reads(
    events: list[Event], t0: float
) -> None:
    table = TxTable()
    for e in events:
        table.feed(e)
    assert list(table.points(t0)) == reference_points(events, t0)
    signed = [e for e in events if e.kind == "signed"]
    assert [(m.t, m.node, m.tx) for m in table.signatures(t0)] == [
        (e.t - t0, e.fields["node"], e.fields["tx"]) for e in signed
    ]


@settings(max_examples=150, deadline=None)
@given(event_lists())
def test_the_checks_fed_one_event_at_a_time_agree_with_each_check_of_the_whole_sequence(
    events: list[Event],
) -> None:
    """`Checks` hands each event only to the folds that read its kind; every verdict equals the check run
    on the whole sequence (which feeds its fold every event), at every prefix."""
    checks = invariants.Checks()
    for n, e in enumerate(events, 1):
        checks.feed(e)
        if n % 7 == 0 or n == len(events):
            prefix = events[:n]
            assert checks.verdicts() == {name: check(prefix) for name, check in invariants.INVARIANTS.items()}
