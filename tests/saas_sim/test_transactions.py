"""The transaction status machine: forward only, terminal statuses absorb, illegal moves change nothing."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.saas_sim.errors import IllegalTransition
from cosigner_ha.saas_sim.transactions import (
    TERMINAL,
    TRANSITIONS,
    Status,
    StatusChange,
    StatusHistory,
    Transaction,
)


def tx() -> Transaction:
    return Transaction(
        id="tx-1",
        workspace_id="ws",
        initiator="ops",
        operation="TRANSFER",
        asset="ETH",
        amount=Decimal("1.5"),
        source="vault:hot",
        destination="wallet:cold",
        destination_address="whitelisted",
        external_id=None,
        note="",
        created_at=0.0,
    )


def test_the_happy_path() -> None:
    t = tx()
    t.move(Status.PENDING_AUTHORIZATION, at=1)
    t.move(Status.PENDING_SIGNATURE, at=2)
    t.move(Status.COMPLETED, at=3)
    assert t.terminal and t.finished_at == 3 and t.pending_signature_at == 2
    assert [c.status for c in t.history] == [
        Status.PENDING_AUTHORIZATION,
        Status.PENDING_SIGNATURE,
        Status.COMPLETED,
    ]


def test_an_illegal_move_says_what_is_allowed_and_changes_nothing() -> None:
    t = tx()
    with pytest.raises(
        IllegalTransition, match=r"SUBMITTED; it can move to PENDING_AUTHORIZATION, .* not COMPLETED"
    ):
        t.move(Status.COMPLETED, at=1)
    assert t.status is Status.SUBMITTED and t.history == ()


@given(st.lists(st.sampled_from(list(Status)), max_size=12))
def test_any_sequence_of_moves_keeps_the_machine_sound(moves: list[Status]) -> None:
    t = tx()
    for target in moves:
        before = (t.status, len(t.history))
        try:
            t.move(target, at=float(len(t.history)))
        except IllegalTransition:
            assert (t.status, len(t.history)) == before
            assert target not in TRANSITIONS[before[0]]
    # Once terminal, nothing moves; COMPLETED is entered at most once; the history is a path of the graph.
    statuses = [Status.SUBMITTED, *(c.status for c in t.history)]
    assert all(b in TRANSITIONS[a] for a, b in itertools.pairwise(statuses))
    assert statuses.count(Status.COMPLETED) <= 1
    assert sum(s in TERMINAL for s in statuses) <= 1


changes = st.lists(
    st.builds(
        StatusChange,
        at=st.floats(allow_nan=False),
        status=st.sampled_from(Status),
        sub_status=st.none() | st.sampled_from(["TIMEOUT", "BLOCKED_BY_POLICY"]),
        reason=st.text(max_size=5),
    ),
    max_size=6,
)


@given(changes, st.integers(-8, 8))
def test_a_status_history_reads_as_the_tuple_of_its_changes(items: list[StatusChange], i: int) -> None:
    """The compact history is the tuple of its changes to every reader: length, index, slice, iteration,
    equality (both ways), hash and repr; adding one leaves the old history as it was."""
    built = StatusHistory(items)
    grown = StatusHistory()
    for change in items:
        before = grown
        grown = grown.added(change)
        assert len(before) == len(grown) - 1
    expected = tuple(items)
    for history in (built, grown):
        assert len(history) == len(expected) and tuple(history) == expected and list(history) == items
        assert history == expected and expected == history and history == built
        assert hash(history) == hash(expected) and repr(history) == repr(expected)
        assert history[i:] == expected[i:] and history[::-1] == expected[::-1]
        assert (history != ()) == bool(expected) and bool(history) == bool(expected)
        if -len(expected) <= i < len(expected):
            assert history[i] == expected[i]
        else:
            with pytest.raises(IndexError):
                history[i]


def test_moves_keep_the_history_compact_and_a_restored_tuple_is_taken_over() -> None:
    t = tx()
    t.history = (StatusChange(0.5, Status.PENDING_AUTHORIZATION, None, "restored"),)
    t.status = Status.PENDING_AUTHORIZATION
    t.move(Status.PENDING_SIGNATURE, at=1.0)
    assert isinstance(t.history, StatusHistory)
    assert [c.reason for c in t.history] == ["restored", ""] and t.history[-1].at == 1.0
