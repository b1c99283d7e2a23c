"""`env.scopes` behaves as anyio's own on both backends the runtime runs on."""

from __future__ import annotations

import anyio
import pytest

from cosigner_ha.env import scopes

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
