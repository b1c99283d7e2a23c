"""The one interface the SaaS gateway and the nodes program against, whatever carries the bytes.

Like httpx's transport seam: production code holds a `Network`; the simulator hands it a host of
`SimNetwork`, the runtime a `TcpNetwork`. A connection carries whole frames (bytes, at most the wire's
`MAX_FRAME_SIZE`), reliably and in order, until it ends; its end shows as `ConnectionClosed` (clean) or
its subclass `ConnectionBroken` (abrupt). Timeouts are cancel scopes, trio style:
`with anyio.fail_after(5): frame = await stream.receive()`; a cancelled `receive` loses no frame. A
request's round trip, the commonest timeout, has its own call (`exchange(frame, timeout)`), which the
simulated network keeps without a scope.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol, Self

import anyio

from cosigner_ha.net.errors import (
    AddressInUse,
    ConnectError,
    ConnectionBroken,
    ConnectionClosed,
    ConnectRefused,
    ConnectTimeout,
    FrameTooLarge,
    HostDown,
    InvalidAddress,
    ListenerClosed,
    NetError,
    TlsHandshakeFailed,
)

__all__ = [
    "AddressInUse",
    "ConnectError",
    "ConnectRefused",
    "ConnectTimeout",
    "ConnectionBroken",
    "ConnectionClosed",
    "FrameTooLarge",
    "FramedStream",
    "HostDown",
    "Interrupt",
    "InvalidAddress",
    "Listener",
    "ListenerClosed",
    "NetError",
    "Network",
    "TlsHandshakeFailed",
    "serve",
]


class Interrupt(Protocol):
    """Something a wait ends on besides its own event (`env.scopes.Flag`): work for a held long poll."""

    def is_set(self) -> bool: ...

    def on_set(self, callback: Callable[[], object]) -> None:
        """Call `callback` once when set (at once if it is already)."""
        ...


class FramedStream(Protocol):
    """One end of a connection. One task may send while another receives."""

    @property
    def local(self) -> str:
        """This end's address, `host:port`."""
        ...

    @property
    def peer(self) -> str:
        """The other end's address, `host:port`."""
        ...

    async def send(self, frame: bytes) -> None:
        """Queue one whole frame. `FrameTooLarge` (nothing sent) or `ConnectionClosed` once it is over."""
        ...

    async def receive(self) -> bytes:
        """The next frame, waiting for it; `ConnectionClosed` / `ConnectionBroken` at the end."""
        ...

    async def exchange(self, frame: bytes, timeout: float) -> bytes | None:
        """`send(frame)` then `receive()`, both within `timeout` seconds: the answer, or None when the time
        ran out first (a request's round trip). Errors as `send` and `receive`. The simulated network
        keeps this timeout without a cancel scope; TCP uses one, as a caller would."""
        ...

    async def receive_unless(self, interrupt: Interrupt, timeout: float) -> bytes | None:
        """`receive()` until `interrupt` is set or `timeout` seconds pass: the frame, or None (a frame that
        comes later stays unread, as after a cancelled `receive`). Errors as `receive`. The simulated
        network wakes the wait itself, without a cancel scope; TCP uses one, as a caller would."""
        ...

    async def aclose(self) -> None:
        """Close gracefully: frames already sent still arrive, then the peer sees `ConnectionClosed`."""
        ...

    async def abort(self) -> None:
        """Close at once (a TCP reset): unsent frames are dropped and the peer sees `ConnectionBroken`."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Listener(Protocol):
    """Accepts connections on one address."""

    @property
    def address(self) -> str:
        """The bound address, with the real port when port 0 was asked for."""
        ...

    async def accept(self) -> FramedStream:
        """The next incoming connection; `ListenerClosed` once the listener is closed."""
        ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Network(Protocol):
    """Opens connections and listens, from one vantage point (a simulated host, or this machine)."""

    async def connect(self, address: str, *, timeout: float | None = None) -> FramedStream:
        """Connect to `host:port`: `ConnectTimeout` after `timeout` seconds (None: the network's
        default), `ConnectRefused` when nothing listens there."""
        ...

    async def listen(self, address: str) -> Listener:
        """Listen on `host:port`; port 0 picks a free port (see `Listener.address`)."""
        ...


async def serve(
    listener: Listener,
    handler: Callable[[FramedStream], Awaitable[None]],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections until the listener closes, running `handler(stream)` for each in its own task.

    The stream is closed when its handler returns; a handler's `ConnectionClosed` ends that handler only.
    Returns after the listener closed and every handler finished; other errors propagate (trio style).
    """

    async def run_one(stream: FramedStream) -> None:
        async with stream:
            with contextlib.suppress(ConnectionClosed):
                await handler(stream)

    async with anyio.create_task_group() as tasks:
        task_status.started()
        while True:
            try:
                stream = await listener.accept()
            except ListenerClosed:
                break
            tasks.start_soon(run_one, stream)
