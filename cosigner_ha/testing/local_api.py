"""The local Fireblocks API for synchronous code (a test, a script using the blocking SDK): the cluster and
its API run on trio in a background thread; leaving the `with` block (or an error) stops them and joins
the thread.

    with local_fireblocks("scenarios/rest.toml") as local:
        fireblocks = Fireblocks(ClientConfiguration(**local.sdk_config("ops")))
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio

from cosigner_ha.cluster.local_api import LocalFireblocks, Ready, UserKeys
from cosigner_ha.cluster.scenario import Scenario, load_scenario

T = TypeVar("T")
#: How long start-up (key generation, pairing) may take before the harness gives up.
START_TIMEOUT = 180.0


@dataclasses.dataclass
class LocalApi:
    """A running local API: its base URL, each API user's credentials, and a way into its event loop."""

    ready: Ready
    token: trio.lowlevel.TrioToken

    @property
    def base_url(self) -> str:
        return self.ready.base_url

    @property
    def users(self) -> dict[str, UserKeys]:
        return {u.name: u for u in self.ready.users}

    def sdk_config(self, api_user: str) -> dict[str, Any]:
        """`ClientConfiguration(**local.sdk_config(name))` for the official SDK."""
        user = self.users[api_user]
        if user.secret_key is None:
            raise KeyError(f"API user {api_user!r} brought its own public key; its secret key is not here")
        return {"api_key": user.api_key, "secret_key": user.secret_key, "base_path": self.base_url}

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` in the cluster's event loop (its objects are not thread-safe) and return its result."""
        return trio.from_thread.run_sync(fn, trio_token=self.token)


@contextlib.contextmanager
def local_fireblocks(
    scenario: Scenario | str | Path,
    *,
    users: Sequence[UserKeys] | None = None,
    webhooks: Sequence[str] = (),
    timeline: bool = False,
    workdir: Path | None = None,
) -> Iterator[LocalApi]:
    model = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    server = LocalFireblocks(model, users=users, webhooks=webhooks, timeline=timeline, workdir=workdir)
    started: queue.Queue[tuple[LocalApi | None, BaseException | None]] = queue.Queue()
    handle: list[tuple[trio.CancelScope, trio.lowlevel.TrioToken]] = []

    async def main() -> None:
        with trio.CancelScope() as scope:
            token = trio.lowlevel.current_trio_token()
            handle.append((scope, token))
            async with trio.open_nursery() as nursery:
                ready = await nursery.start(server.serve)
                started.put((LocalApi(ready, token), None))

    def thread() -> None:
        try:
            trio.run(main)
        except BaseException as exc:
            started.put((None, exc))

    worker = threading.Thread(target=thread, name="local-fireblocks", daemon=True)
    worker.start()
    try:
        try:
            local, error = started.get(timeout=START_TIMEOUT)
        except queue.Empty:
            raise TimeoutError(f"the local Fireblocks API did not start within {START_TIMEOUT:g} s") from None
        if error is not None:
            raise error
        assert local is not None
        yield local
    finally:
        if handle:
            scope, token = handle[0]
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(scope.cancel, trio_token=token)
        worker.join(timeout=30)
        if worker.is_alive():
            raise RuntimeError("the local Fireblocks API did not stop within 30 s")
        while not started.empty():  # a crash while it served: the block must not pass silently
            _, crashed = started.get()
            if crashed is not None:
                raise RuntimeError("the local Fireblocks API crashed while serving") from crashed
