"""Serve a user's asyncio ASGI handler on an asyncio event loop it owns for the whole run.

Users' handlers are mostly FastAPI apps written for asyncio (aiofiles, asyncpg, httpx), which fail under
trio with "no running event loop". `AsyncioAsgiHost` runs the app on an asyncio loop in a thread of its
own (anyio's blocking portal with the asyncio backend): the ASGI lifespan's startup runs before the
first request, its shutdown after the last, and every request in between is served on that same loop.

The simulation calls `request` synchronously from its trio thread: trio's loop, and so its virtual clock,
stands still while the handler works, so the handler's wall time never enters virtual time and the same
seed gives the same trace. Only the handler's configured latency is slept, in virtual time, by the caller.
A handler that takes longer than `timeout` wall seconds is abandoned (a TIMEOUT for that request).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
from collections.abc import MutableMapping
from typing import Any

import anyio.from_thread
import httpx

#: Wall seconds the lifespan's startup and shutdown may take before the handler is declared broken.
LIFESPAN_TIMEOUT = 60.0


class LifespanError(RuntimeError):
    """The handler's lifespan startup failed (an exception, `SystemExit`, or `lifespan.startup.failed`)."""


class HandlerTimeout(TimeoutError):
    """The handler did not answer within the wall-clock limit."""


class AsyncioAsgiHost:
    """One ASGI app on its own asyncio loop; `start()`, then `request(...)` any number of times, `close()`."""

    def __init__(self, app: Any, *, base_url: str) -> None:
        self.app = app
        self.base_url = base_url
        self._stack = contextlib.ExitStack()
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._client: httpx.AsyncClient | None = None
        self._to_app: asyncio.Queue[dict[str, Any]] | None = None
        self._from_app: asyncio.Queue[dict[str, Any]] | None = None
        self._lifespan_task: asyncio.Task[None] | None = None
        self._lifespan_supported = True
        self._state: dict[str, Any] = {}

    # -- life cycle (called from the simulation's thread) --

    def start(self) -> None:
        """Start the loop and run the lifespan startup; `LifespanError` saying why if it fails."""
        self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal("asyncio"))
        try:
            self._portal.call(self._startup)
        except BaseException:
            self._stack.close()
            self._portal = None
            raise

    def close(self) -> str | None:
        """Run the lifespan shutdown and stop the loop; a shutdown failure is returned, not raised."""
        if self._portal is None:
            return None
        try:
            problem = self._portal.call(self._shutdown)
        finally:
            self._stack.close()
            self._portal = None
        return problem

    def request(
        self, path: str, content: bytes, headers: dict[str, str], *, timeout: float
    ) -> tuple[int, bytes]:
        """POST `content` to `path`; (status, body). An exception in the app is an HTTP 500."""
        if self._portal is None:
            raise RuntimeError("the handler's event loop is not running")
        future = self._portal.start_task_soon(self._post, path, content, headers)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise HandlerTimeout(f"the handler did not answer within {timeout:g} s (wall clock)") from None

    # -- on the handler's asyncio loop --

    async def _app_with_state(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await self.app({**scope, "state": dict(self._state)}, receive, send)

    async def _post(self, path: str, content: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        assert self._client is not None
        response = await self._client.post(path, content=content, headers=headers)
        return response.status_code, response.content

    async def _run_lifespan(self) -> None:
        assert self._to_app is not None and self._from_app is not None
        to_app, from_app = self._to_app, self._from_app
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            received = True
            return await to_app.get()

        async def send(message: dict[str, Any]) -> None:
            from_app.put_nowait(message)

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self._state}
        try:
            await self.app(scope, receive, send)
        except (Exception, SystemExit) as exc:
            # an app that raises before it ever listens does not speak lifespan (as servers treat it)
            from_app.put_nowait({"type": "_raised", "error": exc, "received": received})
        else:
            from_app.put_nowait({"type": "_returned", "received": received})

    async def _startup(self) -> None:
        self._to_app, self._from_app = asyncio.Queue(), asyncio.Queue()
        self._lifespan_task = asyncio.get_running_loop().create_task(self._run_lifespan())
        self._to_app.put_nowait({"type": "lifespan.startup"})
        try:
            message = await asyncio.wait_for(self._from_app.get(), LIFESPAN_TIMEOUT)
        except TimeoutError:
            raise LifespanError(
                f"the lifespan startup did not finish within {LIFESPAN_TIMEOUT:g} s"
            ) from None
        kind = message["type"]
        if kind == "lifespan.startup.failed":
            raise LifespanError(f"the lifespan startup failed: {message.get('message') or 'no reason given'}")
        if kind == "_raised" and (message["received"] or isinstance(message["error"], SystemExit)):
            error = message["error"]
            raise LifespanError(f"the lifespan startup raised {_describe(error)}")
        if kind != "lifespan.startup.complete":
            self._lifespan_supported = False
        transport = httpx.ASGITransport(app=self._app_with_state, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url=self.base_url, trust_env=False)

    async def _shutdown(self) -> str | None:
        if self._client is not None:
            await self._client.aclose()
        if not self._lifespan_supported or self._to_app is None or self._from_app is None:
            return None
        self._to_app.put_nowait({"type": "lifespan.shutdown"})
        try:
            message = await asyncio.wait_for(self._from_app.get(), LIFESPAN_TIMEOUT)
        except TimeoutError:
            return f"the lifespan shutdown did not finish within {LIFESPAN_TIMEOUT:g} s"
        finally:
            if self._lifespan_task is not None and not self._lifespan_task.done():
                self._lifespan_task.cancel()
        if message["type"] == "lifespan.shutdown.failed":
            return f"the lifespan shutdown failed: {message.get('message') or 'no reason given'}"
        if message["type"] == "_raised":
            return f"the lifespan shutdown raised {_describe(message['error'])}"
        return None


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r})"
    return f"{type(error).__name__}: {error}"


def is_asgi_app(target: Any) -> bool:
    """An ASGI 3 application: a coroutine function, or an object whose `__call__` is one."""
    if inspect.iscoroutinefunction(target):
        return True
    call = getattr(target, "__call__", None)  # noqa: B004 - an instance's bound __call__ is what is checked
    return call is not None and not isinstance(target, type) and inspect.iscoroutinefunction(call)
