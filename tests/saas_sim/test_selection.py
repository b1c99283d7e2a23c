"""Which node signs: first responder, listed order, standby only when no active node answered; and the
selection function itself, property-tested."""

from __future__ import annotations

import types

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.env import Environment, simulate
from cosigner_ha.saas_sim import SaasConfig, Status
from cosigner_ha.saas_sim.errors import SessionClosed, UnknownSession
from cosigner_ha.saas_sim.selection import Answer, choose, settled
from cosigner_ha.saas_sim.signing import ProbeRound, SigningService

from .harness import ready, running_world
from .protocol_node import Behaviour

SPEEDS = {
    "node-a": Behaviour(probe_delay=1.5),
    "node-b": Behaviour(probe_delay=0.2),
    "node-c": Behaviour(probe_delay=0.8),
}


def signer_of(
    selection: str, *, standby: tuple[str, ...] = (), behaviours: dict[str, Behaviour] = SPEEDS
) -> str:
    out: list[str] = []

    async def main(env: Environment) -> None:
        config = SaasConfig(selection=selection)  # type: ignore[arg-type]
        async with running_world(env, config=config, behaviours=behaviours, standby=standby) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED, tx.history
            (result,) = w.events("probe_result", tx=tx.id)
            assert result.get("candidates") == 3
            out.append(str(tx.signed_by))

    simulate(main, seed=7)
    return out[0]


def test_first_responder_picks_the_fastest_answer() -> None:
    assert signer_of("first-responder") == "node-b"


def test_listed_order_picks_the_first_listed_that_answered() -> None:
    assert signer_of("listed-order") == "node-a"


def test_listed_order_skips_a_listed_node_that_is_not_available() -> None:
    behaviours = {**SPEEDS, "node-a": Behaviour(probe="no")}
    assert signer_of("listed-order", behaviours=behaviours) == "node-b"


def test_a_standby_node_is_not_chosen_while_an_active_node_answers() -> None:
    assert signer_of("first-responder", standby=("node-b",)) == "node-c"
    assert signer_of("listed-order", standby=("node-a",)) == "node-b"


def test_a_standby_node_signs_when_no_active_node_answers() -> None:
    behaviours = {
        "node-a": Behaviour(probe="silent"),
        "node-b": Behaviour(probe="no"),
        "node-c": Behaviour(probe_delay=0.5),
    }
    assert signer_of("first-responder", standby=("node-c",), behaviours=behaviours) == "node-c"


def test_the_listed_order_of_the_configuration_comes_first() -> None:
    out: list[str] = []

    async def main(env: Environment) -> None:
        config = SaasConfig(selection="listed-order", listed_order=("node-c", "node-a"))
        async with running_world(env, config=config, behaviours=SPEEDS) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            out.append(str(tx.signed_by))

    simulate(main, seed=3)
    assert out == ["node-c"]


# --- the pure function -------------------------------------------------------------------------------------

answers = st.lists(
    st.builds(
        Answer,
        probe_id=st.just("p"),
        cosigner_id=st.sampled_from(["a", "b", "c", "d"]),
        api_user=st.just("u"),
        order=st.integers(0, 10),
        standby=st.booleans(),
        tried=st.booleans(),
        available=st.sampled_from([None, True, False]),
        seq=st.integers(0, 100),
    ),
    max_size=6,
)


@given(answers, st.sampled_from(["first-responder", "listed-order"]))
def test_choice_respects_standby_tried_and_order(pool: list[Answer], selection: str) -> None:
    for i, a in enumerate(pool):
        a.order, a.seq = i, None if a.available is None else (a.seq or 0) * 10 + i
    chosen = choose(pool, selection)  # type: ignore[arg-type]
    available = [a for a in pool if a.available]
    if not available:
        assert chosen is None
        return
    assert chosen is not None and chosen.available
    # standby only when no active node answered available; a tried node only when nothing else did
    if any(not a.standby for a in available):
        assert not chosen.standby
    same_tier = [a for a in available if a.standby == chosen.standby]
    if any(not a.tried for a in same_tier):
        assert not chosen.tried
    peers = [a for a in same_tier if a.tried == chosen.tried]
    key = (lambda a: a.seq) if selection == "first-responder" else (lambda a: a.order)
    assert key(chosen) == min(key(a) for a in peers)


@given(answers, st.sampled_from(["first-responder", "listed-order"]), st.data())
def test_settled_never_decides_before_the_choice_is_final(
    pool: list[Answer], selection: str, data: st.DataObject
) -> None:
    """If `settled` says stop, no way the unanswered probes could still answer changes the choice."""
    for i, a in enumerate(pool):
        a.order, a.seq = i, None if a.available is None else i
    if not settled(pool, selection):  # type: ignore[arg-type]
        return
    before = choose(pool, selection)  # type: ignore[arg-type]
    seq = 1000
    for a in pool:
        if a.available is None:
            a.available = data.draw(st.booleans())
            a.seq = seq
            seq += 1
    after = choose(pool, selection)  # type: ignore[arg-type]
    assert (before is None) == (after is None) and (before is None or before is after)


class _Recorder:
    """The one part of a SaaS context `on_probe_answer` uses: the trace."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def record(self, kind: str, **fields: object) -> None:
        self.events.append((kind, fields))


def test_a_probe_answer_sent_again_counts_once_and_a_contradicting_one_is_refused() -> None:
    ctx = _Recorder()
    service = SigningService(ctx, finish=lambda *a, **k: True)  # type: ignore[arg-type]
    standby = Answer("p-1", "c-standby", "u-1", order=1, standby=True)
    active = Answer("p-2", "c-active", "u-2", order=0)
    probe_round = ProbeRound("tx-1", [active, standby], "first-responder")
    service._probes = {"p-1": (probe_round, standby), "p-2": (probe_round, active)}
    node = types.SimpleNamespace(id="c-standby")
    service.on_probe_answer(node, "p-1", True)  # type: ignore[arg-type]
    assert not probe_round.settled.is_set(), "a standby's answer leaves the active node its chance"
    service.on_probe_answer(node, "p-1", True)  # type: ignore[arg-type]
    assert [kind for kind, _ in ctx.events] == ["probe_answered"], "the same answer again is taken once"
    with pytest.raises(SessionClosed, match="already answered"):
        service.on_probe_answer(node, "p-1", False)  # type: ignore[arg-type]
    with pytest.raises(UnknownSession, match="not sent to co-signer"):
        service.on_probe_answer(node, "p-2", True)  # type: ignore[arg-type]
    service.on_probe_answer(types.SimpleNamespace(id="c-active"), "p-2", True)  # type: ignore[arg-type]
    assert probe_round.settled.is_set()
