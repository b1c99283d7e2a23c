"""`env.scopes` behaves as anyio's own on both backends the runtime runs on."""

from __future__ import annotations

import math

import anyio
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.env import Environment, scopes, simulate

BACKENDS = ["trio", "asyncio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_timeout_cancels_at_its_deadline_and_a_past_one_at_once(backend: str) -> None:
    async def main() -> list[tuple[bool, float]]:
        seen = []
        for seconds in (0.01, 0.0, -5.0):
            start = anyio.current_time()
            with scopes.move_on_after(seconds) as scope:
                await anyio.sleep(1)
            seen.append((scope.cancelled_caught, anyio.current_time() - start))
        with scopes.move_on_after(1) as scope:
            await anyio.sleep(0)
        seen.append((scope.cancelled_caught, 0.0))
        return seen

    seen = anyio.run(main, backend=backend)
    assert [caught for caught, _ in seen] == [True, True, True, False]
    assert all(took < 0.5 for _, took in seen)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_shielded_scope_keeps_its_work_from_an_outer_cancel(backend: str) -> None:
    async def main() -> list[str]:
        done: list[str] = []
        with anyio.CancelScope() as outer:
            outer.cancel()
            with scopes.cancel_scope(shield=True):
                await anyio.sleep(0.01)
                done.append("shielded")
            await anyio.sleep(1)
            done.append("not reached")
        return done

    assert anyio.run(main, backend=backend) == ["shielded"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_started_task_runs_in_the_group_and_its_failure_ends_the_group(backend: str) -> None:
    async def main() -> list[str]:
        ran: list[str] = []

        async def work(name: str) -> None:
            await anyio.sleep(0)
            ran.append(name)

        async def fail() -> None:
            await anyio.sleep(0)
            raise ValueError("boom")

        async with anyio.create_task_group() as tasks:
            scopes.start_soon(tasks, work, "a")
            scopes.start_soon(tasks, work, "b")
        with pytest.raises(ExceptionGroup) as raised:
            async with anyio.create_task_group() as tasks:
                scopes.start_soon(tasks, fail)
                await anyio.sleep(5)
                ran.append("not reached: the failure cancels the group")
        assert raised.group_contains(ValueError, match="boom")
        return ran

    assert sorted(anyio.run(main, backend=backend)) == ["a", "b"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_flag_wakes_its_waiters_when_set_and_tells_a_timeout_apart(backend: str) -> None:
    """Set in time: every waiter wakes then and gets True; not set: False once the timeout passed;
    already set: True at once; no time at all: False unless set."""

    async def main() -> None:
        flag = scopes.Flag()
        woke: list[tuple[bool, float]] = []

        async def waiter(timeout: float) -> None:
            woke.append((await flag.wait(timeout), anyio.current_time() - start))

        start = anyio.current_time()
        async with anyio.create_task_group() as tasks:
            for timeout in (5.0, 10.0, math.inf):
                tasks.start_soon(waiter, timeout)
            await anyio.sleep(0.05)
            assert not flag.is_set() and not woke
            flag.set()
            flag.set()  # a second set changes nothing
        assert [ok for ok, _ in woke] == [True, True, True]
        assert all(0.05 <= took < 2 for _, took in woke)
        assert flag.is_set()
        assert await flag.wait(0.01) and await flag.wait(0) and await flag.wait(-1)

        other = scopes.Flag()
        start = anyio.current_time()
        assert not await other.wait(0.05)
        assert anyio.current_time() - start >= 0.05 - 1e-6
        assert not await other.wait(0) and not await other.wait(-1)

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_enclosing_scope_cancels_a_flag_wait(backend: str) -> None:
    async def main() -> None:
        flag = scopes.Flag()
        with anyio.move_on_after(0.05) as scope:
            await flag.wait(30)
        assert scope.cancelled_caught
        with anyio.CancelScope() as cancelled:
            cancelled.cancel()
            flag.set()
            await flag.wait(30)  # set, but a wait is still a checkpoint
        assert cancelled.cancelled_caught

    anyio.run(main, backend=backend)


async def test_a_flag_waits_on_trio_leave_no_deadline_behind(autojump_clock: trio.testing.MockClock) -> None:
    """In virtual time: woken exactly when set or at the timeout, and nothing left in trio's deadline heap
    (MockClock would jump to it) whichever way the wait ended."""
    flag = scopes.Flag()
    start = trio.current_time()
    assert not await flag.wait(2.5)
    assert trio.current_time() == start + 2.5

    async def set_later() -> None:
        await trio.sleep(1)
        flag.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(set_later)
        assert await flag.wait(100)
    assert trio.current_time() == start + 3.5
    with trio.move_on_after(1):
        await scopes.Flag().wait(50)
    assert trio.current_time() == start + 4.5
    assert trio.lowlevel.current_statistics().seconds_to_next_deadline == math.inf


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    waits=st.lists(st.tuples(st.integers(0, 2), st.floats(0, 5), st.floats(0, 5)), min_size=1, max_size=12),
    sets=st.lists(st.tuples(st.integers(0, 2), st.floats(0, 8)), max_size=4),
)
def test_a_flag_wait_is_the_event_wait_under_move_on_after(
    seed: int, waits: list[tuple[int, float, float]], sets: list[tuple[int, float]]
) -> None:
    """Under the same seed, waiters (which flag, when, with what timeout) and setters (which flag, when)
    return at the same virtual times and see the same state, whether they wait on a `Flag` or on an
    `anyio.Event` under `move_on_after`: the schedule, ties at the same instant included, is the same."""

    def run(with_flag: bool) -> list[tuple[int, float, bool]]:
        async def main(env: Environment) -> list[tuple[int, float, bool]]:
            flags = [scopes.Flag() for _ in range(3)]
            events = [anyio.Event() for _ in range(3)]
            seen: list[tuple[int, float, bool]] = []

            async def waiter(number: int, which: int, start: float, timeout: float) -> None:
                await anyio.sleep(start)
                if with_flag:
                    await flags[which].wait(timeout)
                else:
                    with scopes.move_on_after(timeout):
                        await events[which].wait()
                is_set = flags[which].is_set() if with_flag else events[which].is_set()
                seen.append((number, env.clock.now(), is_set))

            async def setter(which: int, at: float) -> None:
                await anyio.sleep(at)
                flags[which].set()
                events[which].set()

            async with anyio.create_task_group() as tasks:
                for number, (which, start, timeout) in enumerate(waits):
                    tasks.start_soon(waiter, number, which, start, timeout)
                for which, at in sets:
                    tasks.start_soon(setter, which, at)
            return seen

        return simulate(main, seed)

    assert run(with_flag=True) == run(with_flag=False)
