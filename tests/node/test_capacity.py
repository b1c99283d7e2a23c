"""The signing-capacity model: a bounded number of MPC rounds at once, the rest queue in order."""

from __future__ import annotations

import math

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.env import Environment, simulate
from cosigner_ha.node.capacity import DEFAULTS, PROBE_DELAY_CAP, SigningCapacity, SigningSlots, default_for


def finish_times(capacity: SigningCapacity, rounds: int, seed: int = 1) -> list[float]:
    """When each of `rounds` rounds, all offered at t=0 in order, finishes its compute."""

    async def main(env: Environment) -> list[float]:
        slots = SigningSlots(env, capacity)
        done: list[float] = []
        peak_busy = 0

        async def one() -> None:
            nonlocal peak_busy
            async with slots.round():
                peak_busy = max(peak_busy, slots.busy)
                done.append(env.clock.now())

        async with anyio.create_task_group() as tg:
            for _ in range(rounds):
                tg.start_soon(one)
                await anyio.lowlevel.checkpoint()
        assert peak_busy <= capacity.sessions  # never more rounds at once than the enclave computes
        assert slots.waiting == 0 and slots.busy == 0
        return done

    return simulate(main, seed=seed)


@settings(max_examples=30, deadline=None)
@given(
    sessions=st.integers(1, 6),
    round_time=st.sampled_from([0.01, 0.25, 1.0, 3.0]),
    rounds=st.integers(1, 25),
)
def test_rounds_beyond_capacity_queue_and_latency_grows_with_load(
    sessions: int, round_time: float, rounds: int
) -> None:
    times = sorted(finish_times(SigningCapacity(sessions, round_time), rounds))
    # the k-th round (0-based) finishes after ceil((k+1)/sessions) round times: batches of `sessions`
    expected = [math.ceil((k + 1) / sessions) * round_time for k in range(rounds)]
    assert times == pytest.approx(expected)
    assert times[-1] == pytest.approx(math.ceil(rounds / sessions) * round_time)


def test_instant_capacity_costs_no_time() -> None:
    assert finish_times(SigningCapacity(1, 0.0), 10) == [0.0] * 10
    assert SigningCapacity(1, 0.0).rate == math.inf


def test_rate_is_sessions_over_two_rounds() -> None:
    assert SigningCapacity(4, 0.05).rate == pytest.approx(40.0)


def test_backlog_makes_a_busy_node_answer_probes_later() -> None:
    async def main(env: Environment) -> list[float]:
        slots = SigningSlots(env, SigningCapacity(1, 0.4))
        seen = [slots.probe_delay()]

        async def one() -> None:
            async with slots.round():
                pass

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            seen.append(slots.probe_delay())
        return seen

    idle, busy = simulate(main, seed=2)
    assert idle == 0.0
    assert busy == PROBE_DELAY_CAP  # five rounds of 0.4 s queued: capped


def test_a_round_says_how_long_it_queued_and_gives_its_slot_back_however_it_ends() -> None:
    async def main(env: Environment) -> tuple[list[float], list[tuple[int, int]]]:
        slots = SigningSlots(env, SigningCapacity(1, 0.5))
        queued: list[float] = []
        seen: list[tuple[int, int]] = []

        async def one() -> None:
            async with slots.round() as waited:
                queued.append(waited)

        async def failing() -> None:
            async with slots.round():
                raise KeyError("the round's body failed")

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one)
                await anyio.lowlevel.checkpoint()
        with pytest.raises(KeyError):
            await failing()
        seen.append((slots.waiting, slots.busy))
        with anyio.move_on_after(0.25):  # cancelled while computing
            await one()
        async with anyio.create_task_group() as tg:  # the second is cancelled while queued
            tg.start_soon(one)
            tg.start_soon(one)
            await anyio.sleep(0.1)
            assert (slots.waiting, slots.busy) == (1, 1)
            tg.cancel_scope.cancel()
        seen.append((slots.waiting, slots.busy))
        await one()  # the slot is free again: no queueing
        return queued, seen

    queued, seen = simulate(main, seed=3)
    assert queued == pytest.approx([0.0, 0.5, 1.0, 0.0])
    assert seen == [(0, 0), (0, 0)]


@pytest.mark.parametrize(("sessions", "round_time"), [(0, 0.1), (-1, 0.1), (1, -0.5)])
def test_impossible_capacity_is_refused(sessions: int, round_time: float) -> None:
    with pytest.raises(ValueError, match="signing"):
        SigningCapacity(sessions, round_time)


def test_every_enclave_kind_has_a_default_and_unknown_ones_say_which_exist() -> None:
    assert set(DEFAULTS) == {"SGX", "AWS-NITRO", "GCP-CONFSPACE", "SANDBOX"}
    assert all(c.round_time > 0 for c in DEFAULTS.values())
    with pytest.raises(ValueError, match="expected one of SGX, AWS-NITRO"):
        default_for("TPM")
