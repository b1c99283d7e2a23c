"""TCP (optionally TLS) through anyio, carrying length-prefixed frames (`cosigner_ha.wire.framing`).

The runtime's transport. Errors are translated into the `NetError` hierarchy at this boundary, so the
code above never sees an `OSError`, an `ssl.SSLError` or an anyio stream exception.

Two choices worth knowing:

- On the server side the TLS handshake happens on the stream's first `send`/`receive` (or an explicit
  `do_handshake()`), not in `accept()`, so one slow or hostile client cannot stall the accept loop (trio's
  SSLStream does the same). A failed handshake shows as `ConnectionBroken` on that stream; the client,
  whose `connect` completes the handshake, sees `TlsHandshakeFailed`. So a task that connects to its own
  TLS listener must accept and receive in another task, or `connect` waits for the server side.
- A `send` cancelled part-way through a frame aborts the connection: half a frame cannot be taken
  back, and the peer would misread everything after it.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import ssl
import struct
from typing import TYPE_CHECKING

import anyio
from anyio.abc import AsyncResource, ByteStream, SocketAttribute, SocketListener, SocketStream
from anyio.lowlevel import cancel_shielded_checkpoint, checkpoint_if_cancelled
from anyio.streams.tls import TLSStream

from cosigner_ha.net._checks import check_frame_size, check_seconds, frame_bytes
from cosigner_ha.net.address import join_address, split_address
from cosigner_ha.net.errors import (
    AddressInUse,
    ConnectError,
    ConnectionBroken,
    ConnectionClosed,
    ConnectRefused,
    ConnectTimeout,
    FrameTooLarge,
    InvalidAddress,
    ListenerClosed,
    NetError,
    TlsHandshakeFailed,
)
from cosigner_ha.wire.errors import FrameTooLarge as WireFrameTooLarge
from cosigner_ha.wire.errors import TruncatedFrame
from cosigner_ha.wire.framing import MAX_FRAME_SIZE, FrameDecoder, encode_frame

if TYPE_CHECKING:
    from cosigner_ha.net.transport import Interrupt

__all__ = ["TcpListener", "TcpNetwork", "TcpStream"]

_RECEIVE_CHUNK = 65536


def _format_sockaddr(sockaddr: object) -> str:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return join_address(str(sockaddr[0]), int(sockaddr[1]))
    return str(sockaddr)  # pragma: no cover - only IP sockets are opened here


class TcpStream(AsyncResource):
    """One end of a TCP connection carrying frames (see `FramedStream`)."""

    def __init__(
        self,
        stream: ByteStream,
        *,
        max_frame_size: int = MAX_FRAME_SIZE,
        tls_server_context: ssl.SSLContext | None = None,
    ) -> None:
        self._stream = stream
        self._local = _format_sockaddr(stream.extra(SocketAttribute.local_address))
        self._peer = _format_sockaddr(stream.extra(SocketAttribute.remote_address))
        self._max_frame_size = max_frame_size
        self._decoder = FrameDecoder(max_size=max_frame_size)
        self._pending_tls = tls_server_context
        self._tls_lock = anyio.Lock()
        self._send_lock = anyio.Lock()
        self._receive_lock = anyio.Lock()
        self._closed = False
        self._broken: str | None = None
        self._eof = False

    def __repr__(self) -> str:
        return f"<TcpStream {self._local} -> {self._peer}>"

    @property
    def local(self) -> str:
        return self._local

    @property
    def peer(self) -> str:
        return self._peer

    def _raise_if_over(self) -> None:
        if self._closed:
            raise ConnectionClosed(f"{self._local} -> {self._peer}: this stream was closed")
        if self._broken is not None:
            raise ConnectionBroken(self._broken)

    async def _fail(self, reason: str) -> ConnectionBroken:
        """Mark the stream broken and drop the socket; the caller raises what this returns."""
        self._broken = reason
        await anyio.aclose_forcefully(self._stream)
        return ConnectionBroken(reason)

    async def _ready_stream(self) -> ByteStream:
        """The byte stream, after the server-side TLS handshake if one is still due."""
        if self._pending_tls is not None:
            async with self._tls_lock:
                context, self._pending_tls = self._pending_tls, None
                if context is not None:
                    try:
                        self._stream = await TLSStream.wrap(
                            self._stream, server_side=True, ssl_context=context, standard_compatible=False
                        )
                    except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
                        raise await self._fail(
                            f"{self._local}: TLS handshake with {self._peer} failed: {_describe(exc)}"
                        ) from exc
                    except BaseException:
                        self._broken = f"{self._local}: the TLS handshake with {self._peer} was cancelled"
                        await anyio.aclose_forcefully(self._stream)
                        raise
            self._raise_if_over()
        return self._stream

    async def do_handshake(self) -> None:
        """Finish the server-side TLS handshake now rather than at the first send or receive.

        `ConnectionBroken` if it fails; does nothing without TLS or when it is done.
        """
        await checkpoint_if_cancelled()
        self._raise_if_over()
        await self._ready_stream()

    async def send(self, frame: bytes) -> None:
        await checkpoint_if_cancelled()
        data = frame_bytes(frame)
        if len(data) > self._max_frame_size:
            raise FrameTooLarge(
                f"{self._local} -> {self._peer}: frame of {len(data)} bytes exceeds the maximum of "
                f"{self._max_frame_size} bytes; nothing was sent"
            )
        payload = encode_frame(data, max_size=self._max_frame_size)
        async with self._send_lock:
            self._raise_if_over()
            stream = await self._ready_stream()
            try:
                await stream.send(payload)
            except anyio.ClosedResourceError as exc:
                raise ConnectionClosed(f"{self._local} -> {self._peer}: this stream was closed") from exc
            except (anyio.BrokenResourceError, OSError) as exc:
                reason = f"{self._local} -> {self._peer}: sending failed: {_describe(exc)}"
                raise await self._fail(reason) from exc
            except BaseException:
                self._broken = f"{self._local} -> {self._peer}: a send was cancelled part-way; stream aborted"
                await anyio.aclose_forcefully(self._stream)
                raise

    async def receive(self) -> bytes:
        await checkpoint_if_cancelled()
        async with self._receive_lock:
            while True:
                self._raise_if_over()
                try:
                    frame = self._decoder.next_frame()
                except WireFrameTooLarge as exc:
                    reason = f"{self._local}: {self._peer} broke the framing rules: {exc}"
                    raise await self._fail(reason) from exc
                if frame is not None:
                    await cancel_shielded_checkpoint()
                    return frame
                if self._eof:
                    raise ConnectionClosed(f"{self._local}: {self._peer} closed the connection")
                stream = await self._ready_stream()
                try:
                    data = await stream.receive(_RECEIVE_CHUNK)
                except anyio.EndOfStream:
                    try:
                        self._decoder.eof()
                    except TruncatedFrame as exc:
                        reason = f"{self._local}: {self._peer} closed mid-frame: {exc}"
                        raise await self._fail(reason) from exc
                    self._eof = True
                    continue
                except anyio.ClosedResourceError as exc:
                    raise ConnectionClosed(f"{self._local} -> {self._peer}: this stream was closed") from exc
                except (anyio.BrokenResourceError, OSError) as exc:
                    raise await self._fail(
                        f"{self._local}: the connection with {self._peer} broke: {_describe(exc)}"
                    ) from exc
                self._decoder.feed(data)

    async def exchange(self, frame: bytes, timeout: float) -> bytes | None:
        """`send` then `receive` under one timeout (a cancel scope): None when it ran out."""
        with anyio.move_on_after(timeout):
            await self.send(frame)
            return await self.receive()
        return None

    async def receive_unless(self, interrupt: Interrupt, timeout: float) -> bytes | None:
        """`receive` under a cancel scope that `interrupt` cancels and `timeout` ends: None when either
        came first."""
        with anyio.move_on_after(timeout) as scope:
            waiting = True

            def stop() -> None:
                if waiting:  # the flag may be set long after this wait ended
                    scope.cancel()

            interrupt.on_set(stop)
            try:
                return await self.receive()
            finally:
                waiting = False
        return None

    async def aclose(self) -> None:
        """Close gracefully (FIN). Bytes that arrived but were never read are discarded first: closing a
        socket with unread data makes the kernel send a reset, and the peer would lose the frames it
        had not read yet (TLS 1.3 session tickets a client never reads are enough to cause it)."""
        if self._closed:
            await cancel_shielded_checkpoint()
            return
        self._closed = True
        sock = self._stream.extra(SocketAttribute.raw_socket, None)
        if sock is not None:
            _discard_unread(sock)
        await self._stream.aclose()

    async def abort(self) -> None:
        """Close with a TCP reset (SO_LINGER 0), so the peer sees `ConnectionBroken`."""
        if self._closed:
            await cancel_shielded_checkpoint()
            return
        self._closed = True
        sock = self._stream.extra(SocketAttribute.raw_socket, None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await anyio.aclose_forcefully(self._stream)


class TcpListener(AsyncResource):
    """A listening TCP socket handing out `TcpStream`s (see `Listener`)."""

    def __init__(
        self, listener: SocketListener, *, max_frame_size: int, tls_server_context: ssl.SSLContext | None
    ) -> None:
        self._listener = listener
        self._address = _format_sockaddr(listener.extra(SocketAttribute.local_address))
        self._max_frame_size = max_frame_size
        self._tls = tls_server_context

    def __repr__(self) -> str:
        return f"<TcpListener {self._address}>"

    @property
    def address(self) -> str:
        return self._address

    async def accept(self) -> TcpStream:
        try:
            raw = await self._listener.accept()
        except anyio.ClosedResourceError as exc:
            raise ListenerClosed(f"listener {self._address} was closed") from exc
        except OSError as exc:
            raise NetError(f"accepting on {self._address} failed: {_describe(exc)}") from exc
        return TcpStream(raw, max_frame_size=self._max_frame_size, tls_server_context=self._tls)

    async def aclose(self) -> None:
        await self._listener.aclose()


class TcpNetwork:
    """This machine's TCP stack as a `Network`. With `ssl_context_client`, every `connect` speaks TLS
    (server name: `tls_hostname`, else the address's host); with `ssl_context_server`, every accepted
    stream does."""

    def __init__(
        self,
        ssl_context_client: ssl.SSLContext | None = None,
        ssl_context_server: ssl.SSLContext | None = None,
        *,
        tls_hostname: str | None = None,
        connect_timeout: float = 10.0,
        max_frame_size: int = MAX_FRAME_SIZE,
    ) -> None:
        contexts = {"ssl_context_client": ssl_context_client, "ssl_context_server": ssl_context_server}
        for name, context in contexts.items():
            if context is not None and not isinstance(context, ssl.SSLContext):
                raise TypeError(f"TcpNetwork {name} must be an ssl.SSLContext, got {type(context).__name__}")
        self._client_tls = ssl_context_client
        self._server_tls = ssl_context_server
        self._tls_hostname = tls_hostname
        self.connect_timeout = check_seconds("connect_timeout", connect_timeout)
        self.max_frame_size = check_frame_size("max_frame_size", max_frame_size)

    async def connect(self, address: str, *, timeout: float | None = None) -> TcpStream:
        host, port = split_address(address)
        if port == 0:
            raise InvalidAddress(f"address {address!r}: cannot connect to port 0")
        limit = self.connect_timeout if timeout is None else check_seconds("timeout", timeout)
        try:
            with anyio.fail_after(limit):
                stream: SocketStream | TLSStream
                if self._client_tls is None:
                    stream = await anyio.connect_tcp(host, port)
                else:
                    stream = await anyio.connect_tcp(
                        host,
                        port,
                        ssl_context=self._client_tls,
                        tls_standard_compatible=False,
                        tls_hostname=self._tls_hostname,
                    )
        except TimeoutError as exc:
            raise ConnectTimeout(f"connecting to {address}: no answer within {limit:g} s") from exc
        except ssl.SSLError as exc:
            raise TlsHandshakeFailed(f"TLS handshake with {address} failed: {_describe(exc)}") from exc
        except (anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            raise TlsHandshakeFailed(f"TLS handshake with {address} failed: the server hung up") from exc
        except OSError as exc:
            causes = _causes(exc)
            if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
                reason = f"connecting to {address}: connection refused (nothing listens there)"
                raise ConnectRefused(reason) from exc
            if any(isinstance(cause, TimeoutError) for cause in causes):
                raise ConnectTimeout(f"connecting to {address}: timed out ({_describe(exc)})") from exc
            raise ConnectError(f"connecting to {address} failed: {_describe(exc)}") from exc
        return TcpStream(stream, max_frame_size=self.max_frame_size)

    async def listen(self, address: str) -> TcpListener:
        """Listen on `host:port` (the first address `host` resolves to); port 0 picks a free port."""
        host, port = split_address(address)
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            multi = await anyio.create_tcp_listener(local_host=str(infos[0][4][0]), local_port=port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUse(f"{address} is already in use") from exc
            raise NetError(f"cannot listen on {address}: {_describe(exc)}") from exc
        first, *others = multi.listeners
        for other in others:  # pragma: no cover - one literal address binds one socket
            await other.aclose()
        if not isinstance(first, SocketListener):  # pragma: no cover - anyio always gives socket listeners
            raise NetError(f"cannot listen on {address}: unexpected listener {first!r}")
        return TcpListener(first, max_frame_size=self.max_frame_size, tls_server_context=self._server_tls)


def _discard_unread(sock: socket.socket, limit: int = 1 << 22) -> None:
    """Read and drop what the kernel holds for `sock` (up to `limit` bytes) without blocking.

    On asyncio anyio hands out the loop's `TransportSocket`, which has no `recv`: nothing is drained there.
    """
    if not hasattr(sock, "recv"):
        return
    taken = 0
    with contextlib.suppress(OSError):  # BlockingIOError once it is empty; anything else: give up
        while taken < limit:
            chunk = sock.recv(_RECEIVE_CHUNK, socket.MSG_DONTWAIT) if hasattr(socket, "MSG_DONTWAIT") else b""
            if not chunk:
                break
            taken += len(chunk)


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc`, its chained causes and the members of exception groups among them."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
    return seen


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"{exc.reason}: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    text = str(exc)
    if not text and exc.__cause__ is not None:
        text = str(exc.__cause__)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
