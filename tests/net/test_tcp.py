"""TCP-only behaviour: TLS, and peers that break the framing rules (on 127.0.0.1, real time)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from cosigner_ha.net import (
    ConnectionBroken,
    ConnectionClosed,
    FrameTooLarge,
    NetError,
    TcpListener,
    TcpNetwork,
    TcpStream,
    TlsHandshakeFailed,
)
from cosigner_ha.wire import MAX_FRAME_SIZE, TruncatedFrame
from cosigner_ha.wire import FrameTooLarge as WireFrameTooLarge

from .conftest import closing, tls_contexts


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(client context trusting the server's self-signed certificate, server context)."""
    return tls_contexts(tmp_path)


async def _pair(client_net: TcpNetwork, server_net: TcpNetwork) -> tuple[TcpListener, TcpStream, TcpStream]:
    listener = await server_net.listen("127.0.0.1:0")
    client, server = await _connect_and_accept(client_net, listener)
    return listener, client, server


async def _connect_and_accept(client_net: TcpNetwork, listener: TcpListener) -> tuple[TcpStream, TcpStream]:
    """Connect while another task accepts and shakes hands, as a server's accept loop would."""
    accepted: list[TcpStream] = []
    failure: NetError | None = None

    async def server_side() -> None:
        stream = await listener.accept()
        accepted.append(stream)
        with contextlib.suppress(ConnectionClosed):
            await stream.do_handshake()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server_side)
        try:
            with anyio.fail_after(5):
                client = await client_net.connect(listener.address)
        except NetError as exc:
            failure = exc
            tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return client, accepted[0]


async def test_tls_carries_frames_both_ways_concurrently(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    client_context, server_context = tls
    listener, client, server = await _pair(
        TcpNetwork(ssl_context_client=client_context), TcpNetwork(ssl_context_server=server_context)
    )
    frames = [bytes([i]) * (i * 997) for i in range(40)] + [b"z" * MAX_FRAME_SIZE]
    got: dict[str, list[bytes]] = {}

    async def pump(stream: TcpStream, name: str) -> None:
        got[name] = [await stream.receive() for _ in frames]

    async with closing(client, server, listener), anyio.create_task_group() as tasks:
        tasks.start_soon(pump, server, "server")
        tasks.start_soon(pump, client, "client")
        for frame in frames:
            await client.send(frame)
            await server.send(frame[::-1])
    assert got["server"] == frames
    assert got["client"] == [frame[::-1] for frame in frames]


async def test_tls_with_an_untrusted_certificate_fails_on_both_sides(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    _, server_context = tls
    listener = await TcpNetwork(ssl_context_server=server_context).listen("127.0.0.1:0")

    async def server_side() -> None:
        server = await listener.accept()
        with anyio.fail_after(5), pytest.raises(ConnectionBroken, match=r"TLS handshake with 127\.0\.0\.1:"):
            await server.receive()
        with pytest.raises(ConnectionBroken):
            await server.send(b"no")

    async with closing(listener), anyio.create_task_group() as tasks:
        tasks.start_soon(server_side)
        with anyio.fail_after(5), pytest.raises(TlsHandshakeFailed, match="CERTIFICATE_VERIFY_FAILED"):
            await TcpNetwork(ssl_context_client=ssl.create_default_context()).connect(listener.address)


async def test_tls_checks_the_server_name(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    client_context, server_context = tls
    listener = await TcpNetwork(ssl_context_server=server_context).listen("127.0.0.1:0")
    async with closing(listener):
        wrong = TcpNetwork(ssl_context_client=client_context, tls_hostname="saas.example")
        with pytest.raises(TlsHandshakeFailed, match=r"Hostname mismatch"):
            await _connect_and_accept(wrong, listener)
        right = TcpNetwork(ssl_context_client=client_context, tls_hostname="localhost")
        client, server = await _connect_and_accept(right, listener)
        async with client, server:
            await client.send(b"named")
            assert await server.receive() == b"named"


async def test_a_client_that_never_handshakes_does_not_block_accept(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    client_context, server_context = tls
    listener = await TcpNetwork(ssl_context_server=server_context).listen("127.0.0.1:0")
    host, port = listener.address.rsplit(":", 1)
    silent = await anyio.connect_tcp(host, int(port))  # plain TCP, says nothing
    async with closing(listener):
        with anyio.fail_after(5):
            first = await listener.accept()
            good, second = await _connect_and_accept(TcpNetwork(ssl_context_client=client_context), listener)
        await good.send(b"through")
        assert await second.receive() == b"through"
        await silent.send(b"\x00\x00\x00\x01x this is not TLS")
        with anyio.fail_after(5), pytest.raises(ConnectionBroken, match="TLS handshake"):
            await first.receive()
        for stream in (first, second, good):
            await stream.aclose()
        await silent.aclose()


@pytest.fixture
async def raw_peer() -> AsyncIterator[tuple[anyio.abc.SocketStream, TcpStream]]:
    """A framed server end whose client is a raw socket the test writes bytes to."""
    listener = await TcpNetwork().listen("127.0.0.1:0")
    host, port = listener.address.rsplit(":", 1)
    raw = await anyio.connect_tcp(host, int(port))
    server = await listener.accept()
    yield raw, server
    await raw.aclose()
    await server.aclose()
    await listener.aclose()


async def test_a_peer_announcing_an_oversize_frame_breaks_the_connection(
    raw_peer: tuple[anyio.abc.SocketStream, TcpStream],
) -> None:
    raw, server = raw_peer
    await raw.send(struct.pack(">I", MAX_FRAME_SIZE + 1))
    with anyio.fail_after(5), pytest.raises(ConnectionBroken, match="broke the framing rules") as caught:
        await server.receive()
    assert isinstance(caught.value.__cause__, WireFrameTooLarge)
    assert f"{MAX_FRAME_SIZE + 1} bytes" in str(caught.value)
    with pytest.raises(ConnectionBroken):
        await server.send(b"no")


async def test_a_peer_closing_mid_frame_breaks_the_connection(
    raw_peer: tuple[anyio.abc.SocketStream, TcpStream],
) -> None:
    raw, server = raw_peer
    await raw.send(struct.pack(">I", 10) + b"12345")
    await raw.send_eof()
    with anyio.fail_after(5), pytest.raises(ConnectionBroken, match="closed mid-frame") as caught:
        await server.receive()
    assert isinstance(caught.value.__cause__, TruncatedFrame)


async def test_frames_dribbled_byte_by_byte_are_reassembled(
    raw_peer: tuple[anyio.abc.SocketStream, TcpStream],
) -> None:
    raw, server = raw_peer
    wire = b"".join(struct.pack(">I", len(f)) + f for f in (b"", b"hello", b"x" * 300))
    got: list[bytes] = []

    async def read() -> None:
        got.extend([await server.receive() for _ in range(3)])

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read)
        for i in range(len(wire)):
            await raw.send(wire[i : i + 1])
            if i % 50 == 0:
                await anyio.sleep(0.001)
    assert got == [b"", b"hello", b"x" * 300]
    await raw.send_eof()
    with pytest.raises(ConnectionClosed):
        await server.receive()


async def test_a_smaller_maximum_is_enforced_both_ways() -> None:
    small = TcpNetwork(max_frame_size=100)
    listener, client, server = await _pair(small, small)
    async with closing(client, server, listener):
        with pytest.raises(FrameTooLarge, match="101 bytes exceeds the maximum of 100"):
            await client.send(b"x" * 101)
        await client.send(b"x" * 100)
        assert await server.receive() == b"x" * 100
    big_listener, big_client, small_server = await _pair(TcpNetwork(), TcpNetwork(max_frame_size=100))
    async with closing(big_client, small_server, big_listener):
        await big_client.send(b"y" * 101)
        with anyio.fail_after(5), pytest.raises(ConnectionBroken, match="maximum is 100"):
            await small_server.receive()


async def test_a_send_cancelled_part_way_aborts_the_stream() -> None:
    listener, client, server = await _pair(TcpNetwork(), TcpNetwork())
    async with closing(client, server, listener):
        raw = client._stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        with anyio.move_on_after(0.3) as scope:  # nobody reads: the send blocks half-way through a frame
            while True:
                await client.send(b"f" * MAX_FRAME_SIZE)
        assert scope.cancelled_caught
        with pytest.raises(ConnectionBroken, match="cancelled part-way"):
            await client.send(b"after")
        with anyio.fail_after(5), pytest.raises(ConnectionClosed):
            while True:  # whole frames first, then the cut
                assert await server.receive() == b"f" * MAX_FRAME_SIZE


async def test_ipv6_loopback_addresses_use_brackets() -> None:
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6 support")
    try:
        listener = await TcpNetwork().listen("[::1]:0")
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no IPv6 loopback here: {exc}")
    async with closing(listener):
        assert listener.address.startswith("[::1]:")
        async with await TcpNetwork().connect(listener.address) as client, await listener.accept() as server:
            assert client.peer == listener.address and server.peer == client.local
            await client.send(b"six")
            assert await server.receive() == b"six"
