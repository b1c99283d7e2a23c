"""The node's process lifetime: what a crash drops, and which exceptions count as the process dying."""

from __future__ import annotations

import pytest

from cosigner_ha.node.errors import BucketFault, DiskFault
from cosigner_ha.node.lifecycle import io_fault
from tests.node.harness import Estate, simulate_estate


def test_a_disk_or_bucket_fault_alone_is_the_process_dying() -> None:
    disk, bucket = DiskFault("power lost at write 3"), BucketFault("PUT failed")
    assert io_fault(disk) is disk
    assert io_fault(ExceptionGroup("tasks", [disk])) is disk
    assert io_fault(BaseExceptionGroup("tasks", [ExceptionGroup("inner", [bucket]), disk])) is bucket


def test_a_bug_raised_beside_a_disk_fault_is_not_dropped() -> None:
    group = ExceptionGroup("tasks", [DiskFault("power lost"), KeyError("a real bug")])
    assert io_fault(group) is None  # the caller re-raises the whole group: the bug reaches the test or user
    assert io_fault(KeyError("alone")) is None


def test_a_node_whose_task_fails_with_a_bug_beside_a_disk_fault_propagates_the_bug() -> None:
    async def scenario(e: Estate) -> None:
        node = await e.node("n1")
        await node.setup(e.saas.pairing_token("signer-a"))
        tasks = node.proc.tasks
        assert tasks is not None

        async def disk_dies() -> None:
            raise DiskFault("power lost")

        async def bug() -> None:
            raise KeyError("a real bug")

        tasks.start_soon(disk_dies)
        tasks.start_soon(bug)
        await e.env.clock.sleep(3600)

    with pytest.raises(BaseExceptionGroup) as caught:
        simulate_estate(scenario)
    _, rest = caught.value.split(KeyError)
    assert rest is not caught.value  # the KeyError is in there


def test_a_crash_drops_the_whole_process_state_and_the_next_boot_starts_fresh() -> None:
    async def scenario(e: Estate) -> tuple[bool, tuple[object, ...], int, int]:
        node = await e.node("n1")
        await node.setup(e.saas.pairing_token("signer-a"))
        before = node.proc
        signers_before = len(before.signers)
        node.crash("test")
        await e.env.clock.sleep(1)
        down = node.proc
        seen = (down.db, dict(down.signers), dict(down.sessions), down.token, down.rsa, down.tasks)
        node.start()
        await node.ready()
        return down is not before, seen, signers_before, len(node.proc.signers)

    (fresh, seen, signers_before, signers_after), _ = simulate_estate(scenario)
    assert fresh
    assert seen == (None, {}, {}, "", None, None)  # nothing of the dead process survives in memory
    assert signers_before == 1 and signers_after == 1  # the share is loaded again from the database


def test_a_graceful_stop_ends_the_moment_the_last_session_does() -> None:
    async def scenario(e: Estate) -> tuple[float, str]:
        node = await e.node("n1")
        await node.setup(e.saas.pairing_token("signer-a"))
        node.proc.sessions["s-1"] = ("signer-a", e.env.clock.now() + 60)  # a signing session in flight
        started = e.env.clock.now()
        stopped_at: list[float] = []

        async def stop() -> None:
            await node.stop()
            stopped_at.append(e.env.clock.now())

        e.tasks.start_soon(stop)
        await e.env.clock.sleep(3.337)
        node._end_session("s-1")
        await node.wait_state("stopped")
        await e.env.clock.sleep(0)
        return stopped_at[0] - started, node.state

    (took, state), _ = simulate_estate(scenario)
    assert state == "stopped"
    assert took == pytest.approx(3.337)  # woken by the session's end, not by a polling step


def test_waiting_for_a_state_wakes_on_the_change() -> None:
    async def scenario(e: Estate) -> tuple[str, float]:
        node = await e.node("n1")
        t0 = e.env.clock.now()
        node.crash("test")
        state = await node.wait_state("crashed", "failed")
        return state, e.env.clock.now() - t0

    (state, took), _ = simulate_estate(scenario)
    assert state == "crashed" and took == 0
