"""`Sleeper`, the simulated network's timer: it must wake exactly when a cancel scope's deadline would, leave
no deadline behind in trio's run loop (MockClock would jump to it), and stay cancellable from outside."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing
from trio.lowlevel import current_statistics

from cosigner_ha.net.sim_sleeper import Sleeper

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
