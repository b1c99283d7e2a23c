"""A held long poll's wait on its co-signer's mailbox: items at once, at arrival, or nothing at the end of
the poll; the connection watch runs in the poll's own task and ends when work arrives."""

from __future__ import annotations

import anyio
import pytest
import trio
import trio.testing

from cosigner_ha import wire
from cosigner_ha.env import scopes
from cosigner_ha.saas_sim.mailbox import Mailbox


def _probe(n: int) -> wire.AvailabilityProbe:
    return wire.AvailabilityProbe(f"probe-{n}", f"tx-{n}", "user", 1e12)


def _ids(items: list[wire.WorkItem]) -> list[str]:
    return [i.probe_id for i in items if isinstance(i, wire.AvailabilityProbe)]


def _run(main: object, backend: str) -> None:
    if backend == "trio":
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # type: ignore[arg-type]
    else:
        anyio.run(main, backend="asyncio")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_a_poll_gets_queued_items_at_once_new_ones_on_arrival_and_nothing_at_its_end(backend: str) -> None:
    box = Mailbox()
    seen: list[tuple[list[str], float]] = []

    async def main() -> None:
        box.put(_probe(0))
        start = anyio.current_time()
        seen.append((_ids(await box.wait(5)), anyio.current_time() - start))

        async def later() -> None:
            await anyio.sleep(0.05)
            box.put(_probe(1))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(later)
            start = anyio.current_time()
            seen.append((_ids(await box.wait(5)), anyio.current_time() - start))
        start = anyio.current_time()
        seen.append((_ids(await box.wait(0.05)), anyio.current_time() - start))

    _run(main, backend)
    assert [ids for ids, _ in seen] == [["probe-0"], ["probe-1"], []]
    assert seen[0][1] < 0.01 and 0.04 < seen[1][1] < 1 and 0.04 < seen[2][1] < 1
    assert box._waiters == []  # nothing left behind by a poll that timed out


def test_two_polls_of_one_box_one_takes_the_item_the_other_waits_out_its_time() -> None:
    box = Mailbox()
    got: dict[str, tuple[list[str], float]] = {}

    async def main() -> None:
        async def poll(name: str, timeout: float) -> None:
            start = trio.current_time()
            items = await box.wait(timeout)
            got[name] = (_ids(items), trio.current_time() - start)

        async with trio.open_nursery() as tasks:
            tasks.start_soon(poll, "a", 30)
            tasks.start_soon(poll, "b", 30)
            await trio.sleep(1)
            box.put(_probe(7))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    (taker,) = [name for name, (ids, _) in got.items() if ids]
    other = "b" if taker == "a" else "a"
    assert got[taker] == (["probe-7"], 1.0)
    assert got[other] == ([], 30.0)  # woken for nothing, it waited out the rest of its poll


def test_the_watch_runs_until_work_arrives_and_a_watch_that_ends_leaves_the_wait_going() -> None:
    box = Mailbox()
    log: list[str] = []

    async def main() -> None:
        async def watch_until_work(arrived: scopes.Flag, timeout: float) -> None:
            log.append(f"watch for {timeout:g} s")
            await arrived.wait(timeout)
            log.append(f"watch ended at {trio.current_time():g}")

        async def put_at(t: float, n: int) -> None:
            await trio.sleep(t)
            box.put(_probe(n))

        async with trio.open_nursery() as tasks:
            tasks.start_soon(put_at, 2, 1)
            items = await box.wait(30, watch=watch_until_work)
        log.append(f"got {_ids(items)} at {trio.current_time():g}")

        async def watch_briefly(arrived: scopes.Flag, timeout: float) -> None:
            await trio.sleep(1)
            log.append(f"connection ended at {trio.current_time():g}")

        async with trio.open_nursery() as tasks:
            tasks.start_soon(put_at, 5, 2)
            items = await box.wait(30, watch=watch_briefly)
        log.append(f"got {_ids(items)} at {trio.current_time():g}")

        items = await box.wait(4, watch=watch_until_work)  # nothing comes: both end with the poll
        log.append(f"got {_ids(items)} at {trio.current_time():g}")

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert log == [
        "watch for 30 s",
        "watch ended at 2",
        "got ['probe-1'] at 2",
        "connection ended at 3",
        "got ['probe-2'] at 7",
        "watch for 4 s",
        "watch ended at 11",
        "got [] at 11",
    ]
    assert box._waiters == []
