"""The HTTP servers of one service process (`saas serve`, `owner serve`, `cloud serve`, `callback serve`,
`proxy serve`): each started in the process's task group, all stopped together when the process gets SIGINT
or SIGTERM. They stop through hypercorn's shutdown trigger, and only once they have the rest of the process
is cancelled: hypercorn's asyncio server does not survive being cancelled."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import sniffio

from cosigner_ha.cluster.grouped import first_of
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_OK

#: The event loops a service process runs on (`--loop`).
LOOPS = ("trio", "asyncio")


def run_service(
    serve: Callable[[argparse.Namespace], Awaitable[None]],
    args: argparse.Namespace,
    explainable: tuple[type[BaseException], ...],
) -> int:
    """Run a service process's `serve` on its loop until a signal stops it: 0, or 2 with one line for an
    error a person can act on (a bad option or file, a port in use), found inside the task groups that wrap
    it. Anything else is a bug and propagates."""
    try:
        anyio.run(serve, args, backend=getattr(args, "loop", "trio"))
    except BaseException as exc:
        found = first_of(exc, explainable)
        if found is None:
            raise
        print(f"error: {found}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


class HttpServers:
    """The servers one task group runs; `serve_until_signalled` is the process's last step."""

    def __init__(self, tasks: anyio.abc.TaskGroup) -> None:
        self._tasks = tasks
        self._stop = anyio.Event()
        self._stopped: list[anyio.Event] = []

    async def start(self, app: Any, bind: str, **tls_files: Path | None) -> list[str]:
        """Serve `app` on `bind` (https with `certfile`/`keyfile`); its bound URLs once it listens."""
        stopped = anyio.Event()
        self._stopped.append(stopped)

        async def run(*, task_status: anyio.abc.TaskStatus[list[str]]) -> None:
            try:
                await serve_http(app, bind, self._stop, task_status=task_status, **tls_files)
            finally:
                stopped.set()

        urls: list[str] = await self._tasks.start(run)
        return urls

    async def serve_until_signalled(self) -> None:
        """Wait for SIGINT or SIGTERM, stop every server, then cancel the rest of the task group."""
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break
        self._stop.set()
        for stopped in self._stopped:
            await stopped.wait()
        self._tasks.cancel_scope.cancel()


async def serve_http(
    app: Any,
    bind: str,
    stop: anyio.Event,
    *,
    task_status: anyio.abc.TaskStatus[list[str]],
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> None:
    """Serve an ASGI app with hypercorn on whichever loop anyio runs on, until `stop` is set; reports the
    bound URLs (https with `certfile`/`keyfile`). Stopping goes through hypercorn's shutdown trigger: its
    asyncio server does not survive being cancelled."""
    from hypercorn.config import Config

    config = Config()
    config.bind = [bind]
    config.accesslog = None
    config.errorlog = None
    if certfile is not None and keyfile is not None:
        config.certfile, config.keyfile = str(certfile), str(keyfile)
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as trio_serve

        await trio_serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)  # type: ignore[arg-type]
        return
    import socket

    from hypercorn.asyncio import serve as asyncio_serve

    # hypercorn's asyncio serve reports nothing: bind the socket here and hand it over by descriptor
    host, _, port = bind.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(128)
    sock.set_inheritable(True)
    config.bind = [f"fd://{sock.fileno()}"]
    scheme = "https" if config.ssl_enabled else "http"
    task_status.started([f"{scheme}://{host}:{sock.getsockname()[1]}"])
    await asyncio_serve(app, config, shutdown_trigger=stop.wait)
