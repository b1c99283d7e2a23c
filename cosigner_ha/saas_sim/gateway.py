"""The gateway nodes long-poll: one task per connection, one request at a time, one response each.

A connection is HTTP-like (wire protocol v1): the node sends a request and gets exactly one response,
in order. The gateway owns what is the same for every request: decoding, the error answer, and what ends
a connection. A malformed frame, a message that is not a request, or a refused token gets an `Error`
answer and closes that connection only; other nodes' connections never notice. Business refusals
(`SaasError`) get an `Error` answer and the connection stays open.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from cosigner_ha import wire
from cosigner_ha.env import scopes
from cosigner_ha.net import ConnectionClosed, FramedStream, Interrupt, Listener, NetError, Network
from cosigner_ha.saas_sim.errors import SaasError, TokenError


@dataclasses.dataclass(slots=True, eq=False)
class Connection:
    id: str
    peer: str
    stream: FramedStream
    #: Set once a request on this connection authenticated as a co-signer.
    cosigner_id: str | None = None
    requests: int = 0
    closed: bool = False
    #: A frame that arrived while a long poll was held (a node that does not wait for the answer): it is
    #: the connection's next request.
    early: bytes | None = None
    #: The connection broke while a long poll was held on it: it no longer counts as the co-signer there.
    lost: bool = False


Handler = Callable[[wire.Request, Connection], Awaitable[wire.Response]]
Undelivered = Callable[[wire.Response, Connection], None]

#: Most answers are a bare `Ack`, whose frame is always the same bytes: encoded once.
_ACK_FRAME = wire.encode(wire.Ack())


class Gateway:
    def __init__(
        self,
        *,
        network: Network,
        address: str,
        handle: Handler,
        undelivered: Undelivered,
        closed: Callable[[Connection], None],
        record: Callable[..., Any],
        new_id: Callable[[], str],
    ) -> None:
        self._network = network
        self.address = address
        self._handle = handle
        self._undelivered = undelivered
        self._closed = closed
        self._record = record
        self._new_id = new_id
        self._connections: dict[str, Connection] = {}
        self._listener: Listener | None = None

    def connected(self, cosigner_id: str) -> bool:
        """Whether the co-signer has an open connection on which it authenticated."""
        return any(
            c.cosigner_id == cosigner_id and not c.closed and not c.lost for c in self._connections.values()
        )

    async def serve(self, *, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until cancelled. `task_status.started` reports the bound address."""
        listener = await self._network.listen(self.address)
        self._listener = listener
        self.address = listener.address
        self._record("gateway_listening", address=self.address)
        async with listener, anyio.create_task_group() as tasks:
            task_status.started(self.address)
            while True:
                try:
                    stream = await listener.accept()
                except NetError as exc:  # the listener closed, or its host crashed
                    self._record("gateway_stopped", reason=f"{type(exc).__name__}: {exc}")
                    return
                tasks.start_soon(self._serve_connection, stream)

    async def disconnect(self, cosigner_id: str) -> int:
        """Close every connection of one co-signer (a fault, or its last pairing undone)."""
        closing = [c for c in self._connections.values() if c.cosigner_id == cosigner_id]
        for conn in closing:
            await self._close(conn, "disconnected by the SaaS")
        return len(closing)

    async def _serve_connection(self, stream: FramedStream) -> None:
        conn = Connection(self._new_id(), stream.peer, stream)
        self._connections[conn.id] = conn
        try:
            while not conn.closed:
                payload, conn.early = conn.early, None
                if payload is None:
                    try:
                        payload = await stream.receive()
                    except ConnectionClosed:
                        break
                if not await self._one(conn, payload):
                    break
        finally:
            self._connections.pop(conn.id, None)
            self._closed(conn)
            if not conn.closed:
                conn.closed = True
                with scopes.cancel_scope(shield=True), contextlib.suppress(NetError):
                    await stream.aclose()

    async def _one(self, conn: Connection, payload: bytes) -> bool:
        """Answer one request; False when the connection must end."""
        conn.requests += 1
        try:
            request = wire.decode(payload)
        except wire.CodecError as exc:
            return await self._refuse(conn, "BAD_FRAME", f"the frame is not a valid protocol message: {exc}")
        if not isinstance(request, wire.Request):
            return await self._refuse(
                conn, "UNEXPECTED_MESSAGE", f"{request.TYPE!r} is not a request a node may send to the SaaS"
            )
        try:
            response = await self._handle(request, conn)
        except TokenError as exc:
            self._record(
                "token_refused",
                conn=conn.id,
                request=request.TYPE,
                code=exc.code,
                cosigner=conn.cosigner_id or getattr(request, "cosigner_id", None),
                reason=exc.message,
            )
            return await self._refuse(conn, exc.code, exc.message, log=False)
        except SaasError as exc:
            self._record(
                "request_refused", conn=conn.id, request=request.TYPE, code=exc.code, reason=exc.message
            )
            response = wire.Error(exc.code, exc.message)
        except Exception as exc:
            # A bug must not take the whole SaaS (and every other node's connection) down with it.
            self._record(
                "internal_error", conn=conn.id, request=request.TYPE, error=f"{type(exc).__name__}: {exc}"
            )
            return await self._refuse(
                conn, "INTERNAL_ERROR", "the SaaS failed to handle this request", log=False
            )
        if conn.lost:
            self._undelivered(response, conn)
            return False
        try:
            await conn.stream.send(_ACK_FRAME if type(response) is wire.Ack else wire.encode(response))
        except ConnectionClosed:
            self._undelivered(response, conn)
            return False
        return True

    async def watch(self, conn: Connection, arrived: Interrupt, timeout: float) -> None:
        """Watch a connection while a long poll is held on it, until it sends a frame or ends; run by
        the poll's own wait (`Mailbox.wait`), until work arrives (`arrived`) or the poll's time is up.

        The poll holds the connection for up to the poll interval, and nothing is read from it meanwhile:
        a node that crashes then (its connections reset at once) would be noticed only when the answer
        found the connection gone, up to an interval later. Watching it while the poll waits lets the
        SaaS count the co-signer gone when its connection breaks, which is when `disconnect_grace`
        starts (docs/saas.md). The poll itself runs to its end, so that work it took is put back as any
        undelivered answer's is. The node sends nothing while its poll is held, so the watch ends
        only between frames.
        """
        if conn.early is not None or conn.lost or conn.closed:
            return
        try:
            conn.early = await conn.stream.receive_unless(arrived, timeout)
        except ConnectionClosed:
            conn.lost = True
            self._record("connection_lost", conn=conn.id, cosigner=conn.cosigner_id)
            self._closed(conn)

    async def _refuse(self, conn: Connection, code: str, message: str, *, log: bool = True) -> bool:
        if log:
            self._record("connection_refused", conn=conn.id, code=code, reason=message)
        with contextlib.suppress(NetError):
            await conn.stream.send(wire.encode(wire.Error(code, message)))
        await self._close(conn, code)
        return False

    async def _close(self, conn: Connection, reason: str) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._record("connection_closed", conn=conn.id, cosigner=conn.cosigner_id, reason=reason)
        with scopes.cancel_scope(shield=True), contextlib.suppress(NetError):
            await conn.stream.aclose()
