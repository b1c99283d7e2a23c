"""`Sleeper`, the timer of the simulated network and clock: it must wake exactly when a cancel scope's
deadline would, leave no deadline behind in trio's run loop (MockClock would jump to it), and stay
cancellable from outside; `sleep`/`sleep_until` built on it must schedule as trio's own do."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
from trio.lowlevel import current_statistics

from cosigner_ha.env import Clock
from cosigner_ha.env.clock import SIMULATION_EPOCH
from cosigner_ha.env.simulate import deterministic_scheduling
from cosigner_ha.sleeper import Sleeper, sleep, sleep_until

MockClock = trio.testing.MockClock


def pending_deadline() -> float:
    return current_statistics().seconds_to_next_deadline


async def test_wakes_at_its_deadline_in_virtual_time(autojump_clock: MockClock) -> None:
    start = trio.current_time()
    await Sleeper(start + 2.5).sleep()
    assert trio.current_time() == start + 2.5
    assert pending_deadline() == math.inf


async def test_wake_before_the_deadline_forgets_the_deadline(autojump_clock: MockClock) -> None:
    start = trio.current_time()
    sleepers: list[Sleeper] = []

    async def waker() -> None:
        await trio.sleep(1)
        sleepers[0].wake()
        sleepers[0].wake()  # a second wake does nothing

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waker)
        await trio.testing.wait_all_tasks_blocked()
        sleepers.append(Sleeper(start + 100))
        await sleepers[0].sleep()
        assert trio.current_time() == start + 1
        assert pending_deadline() == math.inf  # MockClock has nothing to jump to


@pytest.mark.parametrize("moved_to", [0.5, 7.0])
async def test_a_moved_deadline_is_the_one_that_counts(autojump_clock: MockClock, moved_to: float) -> None:
    start = trio.current_time()
    sleeper = Sleeper(start + 3)

    async def mover() -> None:
        sleeper.deadline = start + moved_to

    async with trio.open_nursery() as nursery:
        nursery.start_soon(mover)
        await sleeper.sleep()
    assert trio.current_time() == start + moved_to
    assert pending_deadline() == math.inf


async def test_an_enclosing_scope_cancels_the_sleep_and_its_deadline(autojump_clock: MockClock) -> None:
    start = trio.current_time()
    with trio.move_on_after(1) as scope:
        await Sleeper(start + 50).sleep()
    assert scope.cancelled_caught
    assert trio.current_time() == start + 1
    assert pending_deadline() == math.inf
    await trio.sleep(100)  # the forgotten deadline wakes nobody and breaks nothing
    assert trio.current_time() == start + 101


async def test_many_sleepers_keep_trios_deadline_heap_consistent(autojump_clock: MockClock) -> None:
    """trio prunes its heap when stale entries pile up and asserts its count of live ones: moving and
    waking thousands of sleepers must keep that count exact (the prune runs past 1,000 stale entries)."""
    start = trio.current_time()
    woke: list[float] = []

    async def one(i: int) -> None:
        sleeper = Sleeper(start + 10 + i)
        for step in range(3):
            sleeper.deadline = start + 5 + i * 0.001 + step * 0.0001
        await sleeper.sleep()
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for i in range(3000):
            nursery.start_soon(one, i)
    assert len(woke) == 3000
    assert woke == sorted(woke)
    assert pending_deadline() == math.inf


async def test_sleep_wakes_when_trios_would_and_leaves_no_deadline(autojump_clock: MockClock) -> None:
    start = trio.current_time()
    await sleep(2.25)
    assert trio.current_time() == start + 2.25
    await sleep_until(start + 10)
    assert trio.current_time() == start + 10
    assert pending_deadline() == math.inf


async def test_sleep_zero_and_a_past_deadline_are_schedule_points(autojump_clock: MockClock) -> None:
    """Another runnable task gets to run at each, and no virtual time passes."""
    steps = [0]

    async def spinner() -> None:
        while True:
            steps[0] += 1
            await trio.lowlevel.checkpoint()

    for pause in (lambda: sleep(0), lambda: sleep_until(trio.current_time() - 1)):
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(spinner)
            await trio.lowlevel.checkpoint()
            before = steps[0]
            for _ in range(5):
                await pause()
            assert steps[0] >= before + 4
            nursery.cancel_scope.cancel()
        assert trio.current_time() == start


async def test_sleep_refuses_a_negative_duration(autojump_clock: MockClock) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        await sleep(-1)


@pytest.mark.parametrize("seconds", [0.0, 5.0])
async def test_an_enclosing_scope_cancels_sleep(autojump_clock: MockClock, seconds: float) -> None:
    """A cancelled scope stops `sleep` at once (zero too: it is a checkpoint), and a deadline cancels it
    at the deadline, leaving nothing in trio's heap."""
    start = trio.current_time()
    with trio.CancelScope() as scope:
        scope.cancel()
        await sleep(seconds)
        pytest.fail("a cancelled sleep returned")
    assert scope.cancelled_caught
    with trio.move_on_after(1) as timed:
        await sleep(50 + seconds)
    assert timed.cancelled_caught
    assert trio.current_time() == start + 1
    assert pending_deadline() == math.inf


async def test_tasks_wake_in_the_order_trio_sleep_wakes_them(autojump_clock: MockClock) -> None:
    """The same tasks sleeping the same times, once with trio's sleep and once with ours, run in the same
    order: with the scheduler made deterministic the schedule is the same run."""

    async def run(pause: Callable[[float], Awaitable[None]]) -> list[tuple[float, int]]:
        order: list[tuple[float, int]] = []

        async def one(i: int) -> None:
            for step in range(3):
                await pause((i * 7 + step * 3) % 5 * 0.5)
                order.append((trio.current_time(), i))

        async with trio.open_nursery() as nursery:
            for i in range(40):
                nursery.start_soon(one, i)
        return order

    with deterministic_scheduling(7):
        theirs = await run(trio.sleep)
    with deterministic_scheduling(7):
        ours = await run(sleep)
    offset = ours[0][0] - theirs[0][0]
    assert [(t + offset, i) for t, i in theirs] == ours


async def test_a_simulated_clock_sleeps_on_the_loop_clock(autojump_clock: MockClock) -> None:
    clock = Clock(epoch=SIMULATION_EPOCH)
    base = clock.now()
    await clock.sleep(3)
    assert clock.now() == base + 3
    await clock.sleep_until(base + 4.5)
    assert clock.now() == base + 4.5
    await clock.sleep_until(base)  # already past: a checkpoint
    assert clock.now() == base + 4.5
    with trio.move_on_after(2) as scope:
        await clock.sleep(60)
    assert scope.cancelled_caught
    assert clock.now() == base + 6.5
    assert pending_deadline() == math.inf


async def test_a_woken_sleeper_takes_no_new_deadline_so_trio_counts_its_deadlines_right(
    autojump_clock: MockClock,
) -> None:
    """A receiver woken (by a frame's arrival, a connection's signal) stays listed as a pipe's waiter until
    its task runs; a frame sent meanwhile brings the listed sleepers' deadlines forward. Registered on a
    woken sleeper, that deadline was never taken out again: trio counted one live deadline too many, and
    the next prune of its heap failed (`TrioInternalError`, seen by explore with a disk loss and a
    partition). Moving a woken sleeper's deadline does nothing."""
    from trio._core._run import GLOBAL_RUN_CONTEXT

    deadlines = GLOBAL_RUN_CONTEXT.runner.deadlines
    start = trio.current_time()
    sleepers: list[Sleeper] = []

    async def waker() -> None:
        await trio.sleep(1)
        active = deadlines._active
        sleepers[0].wake()  # runnable, not yet running
        sleepers[0].deadline = start + 2  # a frame enqueued in the same pass
        assert sleepers[0].deadline == math.inf
        assert deadlines._active == active - 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waker)
        await trio.testing.wait_all_tasks_blocked()
        sleepers.append(Sleeper(start + 100))
        await sleepers[0].sleep()
    assert trio.current_time() == start + 1
    assert pending_deadline() == math.inf
    # trio's own consistency check: every deadline it counts is one its heap holds
    deadlines._prune()
