"""A node's process lifecycle: a crash drops the whole in-memory state; a disk fault is the process dying,
but a real bug raised next to it still reaches whoever runs the node."""

from __future__ import annotations

import anyio
import pytest

from cosigner_ha.node.errors import BucketFault, DiskFault
from cosigner_ha.node.lifecycle import split_io_fault
from tests.node.harness import Estate, simulate_estate
from tests.node.test_node import setup_sgx


def test_a_bug_raised_beside_a_disk_fault_propagates_instead_of_being_taken_for_a_crash() -> None:
    async def scenario(e: Estate) -> None:
        await setup_sgx(e)
        node = e.nodes["n1"]

        async def fault_and_bug() -> None:  # what a task group with both failing children raises
            raise BaseExceptionGroup("both", [DiskFault("disk gone"), RuntimeError("a real bug")])

        assert node._tasks is not None
        node._tasks.start_soon(fault_and_bug)
        await anyio.sleep(60)

    with pytest.raises(BaseExceptionGroup) as info:
        simulate_estate(scenario)
    assert info.group_contains(RuntimeError, match="a real bug", depth=None)


def test_a_disk_fault_alone_crashes_the_node_and_it_boots_again_with_a_fresh_process() -> None:
    async def scenario(e: Estate) -> tuple[object, object, list[tuple[str, str]]]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        before = node.process

        async def fault() -> None:
            raise BaseExceptionGroup("one", [DiskFault("disk gone")])

        assert node._tasks is not None
        node._tasks.start_soon(fault)
        await anyio.sleep(0.1)
        crashed = node.process
        await node.ready()
        return (
            before,
            crashed,
            [(x.get("state"), x.get("reason", "")) for x in e.env.trace.of_kind("node_state")],
        )

    (before, crashed, states), _ = simulate_estate(scenario)
    assert crashed is not before  # nothing the old process held (sessions, nonces, token) survives
    assert ("crashed", "I/O fault: disk gone") in states
    assert states[-1] == ("running", "")


def test_split_io_fault_separates_faults_from_what_else_a_group_carries() -> None:
    disk = DiskFault("disk")
    assert split_io_fault(disk) == (disk, None)
    bug = ValueError("bug")
    assert split_io_fault(bug) == (None, bug)
    only_bugs = ExceptionGroup("g", [bug])
    assert split_io_fault(only_bugs) == (None, only_bugs)
    fault, rest = split_io_fault(ExceptionGroup("g", [ExceptionGroup("inner", [BucketFault("b")]), bug]))
    assert isinstance(fault, BucketFault)
    assert isinstance(rest, ExceptionGroup) and rest.exceptions == (bug,)
