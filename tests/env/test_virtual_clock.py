"""The simulation's virtual clock behaves as trio's MockClock(autojump_threshold=0), wake-up for wake-up."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.env.simulate import VirtualClock, deterministic_scheduling

Plan = list[list[tuple[str, float]]]  # per task: ("sleep", seconds) | ("timeout", seconds) | ("event", 0)

steps = st.one_of(
    st.tuples(st.just("sleep"), st.sampled_from([0.0, 0.001, 0.25, 1.0, 30.0]) | st.floats(0, 100)),
    st.tuples(st.just("timeout"), st.floats(0.0, 50.0)),
    st.tuples(st.just("event"), st.just(0.0)),
)


def run_plan(plan: Plan, clock: trio.abc.Clock, seed: int) -> list[tuple[float, int, int]]:
    """Every task's wake-ups as (time, task, step), in the order they happened."""
    log: list[tuple[float, int, int]] = []
    gate = trio.Event()

    async def task(index: int, moves: list[tuple[str, float]]) -> None:
        for n, (kind, seconds) in enumerate(moves):
            if kind == "sleep":
                await trio.sleep(seconds)
            elif kind == "timeout":
                with trio.move_on_after(seconds):
                    await gate.wait()
            else:
                gate.set()
                await trio.lowlevel.checkpoint()
            log.append((trio.current_time(), index, n))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for index, moves in enumerate(plan):
                nursery.start_soon(task, index, moves)

    with deterministic_scheduling(seed):
        trio.run(main, clock=clock)
    return log


@settings(max_examples=60, deadline=None)
@given(plan=st.lists(st.lists(steps, max_size=6), max_size=6), seed=st.integers(0, 2**32))
def test_the_same_wake_ups_at_the_same_times_as_mockclock(plan: Plan, seed: int) -> None:
    expected = run_plan(plan, trio.testing.MockClock(autojump_threshold=0), seed)
    assert run_plan(plan, VirtualClock(), seed) == expected


def test_tasks_waiting_for_everyone_to_block_run_before_time_jumps() -> None:
    seen: list[tuple[str, float]] = []

    async def sleeper() -> None:
        await trio.sleep(10)
        seen.append(("slept", trio.current_time()))

    async def watcher() -> None:
        await trio.testing.wait_all_tasks_blocked()
        seen.append(("all blocked", trio.current_time()))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper)
            nursery.start_soon(watcher)

    trio.run(main, clock=VirtualClock())
    assert seen == [("all blocked", 0.0), ("slept", 10.0)]


def test_jumps_by_hand_and_never_backwards() -> None:
    clock = VirtualClock()
    clock.jump(2.5)
    assert clock.current_time() == 2.5
    assert clock.deadline_to_sleep_time(1.0) == 0  # past deadlines are due now
    with pytest.raises(ValueError, match="backwards"):
        clock.jump(-1)
    assert clock.current_time() == 2.5


def test_a_timeout_is_the_only_thing_that_moves_time() -> None:
    async def main() -> float:
        with trio.move_on_after(5):
            await trio.sleep_forever()
        return trio.current_time()

    assert trio.run(main, clock=VirtualClock()) == 5.0
