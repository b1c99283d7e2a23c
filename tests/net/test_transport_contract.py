"""What every transport promises, checked against the simulated network and TCP alike.

Each test runs twice: `sim` in virtual time (a few simulated seconds cost nothing) and `tcp` on 127.0.0.1.
"""

from __future__ import annotations

import random

import anyio
import pytest

from cosigner_ha.env import scopes
from cosigner_ha.net import (
    AddressInUse,
    ConnectionBroken,
    ConnectionClosed,
    ConnectRefused,
    ConnectTimeout,
    FramedStream,
    FrameTooLarge,
    InvalidAddress,
    ListenerClosed,
    NetError,
    serve,
)
from cosigner_ha.wire import MAX_FRAME_SIZE
from cosigner_ha.wire import FrameTooLarge as WireFrameTooLarge

from .conftest import Harness, closing

SIZES = [0, 1, 2, 3, 4, 5, 255, 4096, 65535, 65536, 65537, MAX_FRAME_SIZE - 1, MAX_FRAME_SIZE]


def _frames(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    many = [rng.randbytes(rng.choice([0, 1, 7, 100, 3000, 70000])) for _ in range(count)]
    return [bytes([i % 256]) * size for i, size in enumerate(SIZES)] + many


async def _send_all(stream: FramedStream, frames: list[bytes]) -> None:
    for frame in frames:
        await stream.send(frame)


async def _receive_n(stream: FramedStream, count: int) -> list[bytes]:
    return [await stream.receive() for _ in range(count)]


async def test_frames_arrive_whole_and_in_order_both_ways(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    up, down = _frames(1, 150), _frames(2, 150)
    received: dict[str, list[bytes]] = {}

    async def collect(name: str, stream: FramedStream, count: int) -> None:
        received[name] = await _receive_n(stream, count)

    async with closing(client, server, listener), anyio.create_task_group() as tasks:
        tasks.start_soon(_send_all, client, up)
        tasks.start_soon(_send_all, server, down)
        tasks.start_soon(collect, "server", server, len(up))
        tasks.start_soon(collect, "client", client, len(down))
    assert received["server"] == up
    assert received["client"] == down


async def test_addresses_name_both_ends(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    async with closing(client, server, listener):
        assert not listener.address.endswith(":0"), "port 0 must be replaced by the bound port"
        assert client.peer == listener.address == server.local
        assert server.peer == client.local
        assert client.local != client.peer


async def test_concurrent_senders_never_interleave_frames(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    frames = {tag: [bytes([tag]) * (1000 + i * 37) for i in range(60)] for tag in (1, 2)}
    async with closing(client, server, listener):
        async with anyio.create_task_group() as tasks:
            for tag in frames:
                tasks.start_soon(_send_all, client, frames[tag])
            got = await _receive_n(server, 120)
        for tag in frames:
            assert [f for f in got if f[:1] == bytes([tag])] == frames[tag]
        assert all(len(set(f)) <= 1 for f in got), "a frame mixed bytes from two senders"


async def test_graceful_close_delivers_what_was_sent_then_closed(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    async with closing(server, listener):
        for frame in (b"one", b"", b"three"):
            await client.send(frame)
        await client.aclose()
        assert await _receive_n(server, 3) == [b"one", b"", b"three"]
        for _ in range(2):  # the end is sticky
            with pytest.raises(ConnectionClosed) as caught:
                await server.receive()
            assert not isinstance(caught.value, ConnectionBroken), "a clean close is not a break"
        with pytest.raises(ConnectionClosed, match="closed"):
            await client.send(b"after close")
        with pytest.raises(ConnectionClosed, match="closed"):
            await client.receive()
        await client.aclose()  # closing twice is fine


async def test_close_wakes_a_waiting_receiver(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    async with closing(server, listener):

        async def close_soon() -> None:
            await anyio.sleep(net.settle / 4)
            await client.aclose()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(close_soon)
            with anyio.fail_after(5 * net.settle), pytest.raises(ConnectionClosed):
                await server.receive()


async def test_closing_an_end_wakes_its_own_waiting_receiver(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    async with closing(server, listener):

        async def close_soon() -> None:
            await anyio.sleep(net.settle / 4)
            await client.aclose()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(close_soon)
            with (
                anyio.fail_after(5 * net.settle),
                pytest.raises(ConnectionClosed, match="this stream was closed"),
            ):
                await client.receive()


async def test_peer_crash_is_seen_as_broken(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    async with closing(client, server, listener):
        await server.send(b"last words")
        assert await client.receive() == b"last words"
        await net.crash_server_side(server)
        with anyio.fail_after(5 * net.settle), pytest.raises(ConnectionBroken):
            await client.receive()
        with pytest.raises(ConnectionBroken):
            await client.send(b"anyone there?")


async def test_abort_is_seen_as_broken_by_the_peer(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    async with closing(server, listener):
        await client.abort()
        with anyio.fail_after(5 * net.settle), pytest.raises(ConnectionBroken):
            await server.receive()
        with pytest.raises(ConnectionClosed):
            await client.receive()


async def test_receive_timeout_loses_no_frame(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    async with closing(client, server, listener):
        started = anyio.current_time()
        with anyio.move_on_after(net.settle) as scope:
            await client.receive()
        assert scope.cancelled_caught
        assert anyio.current_time() - started >= net.settle - 1e-9
        with pytest.raises(TimeoutError):
            with anyio.fail_after(net.settle):
                await client.receive()
        await server.send(b"late")
        await server.send(b"later")
        assert await _receive_n(client, 2) == [b"late", b"later"]


async def test_exchange_returns_the_answer_or_none_when_the_time_runs_out(
    net: Harness, clock: object
) -> None:
    """A request's round trip: the answer within the timeout; None after it, the late answer left unread
    for the next call; an answer that comes in time after an earlier timeout is still delivered."""
    listener, client, server = await net.pair()
    async with closing(client, server, listener):

        async def answer(delay: float, reply: bytes) -> None:
            assert await server.receive() == b"ask"
            await anyio.sleep(delay)
            await server.send(reply)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(answer, 0.0, b"quick")
            assert await client.exchange(b"ask", 5 * net.settle) == b"quick"
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(answer, 2 * net.settle, b"slow")
            started = anyio.current_time()
            assert await client.exchange(b"ask", net.settle) is None
            assert anyio.current_time() - started >= net.settle - 1e-9
        assert await client.receive() == b"slow"  # the late answer was kept
        for past in (0.0, -1.0, 5e-324):  # no time at all (or too little to move the clock): nothing sent
            assert await client.exchange(b"never", past) is None
        await client.send(b"next")
        assert await server.receive() == b"next"


async def test_exchange_ends_with_the_connection_and_obeys_an_outer_scope(
    net: Harness, clock: object
) -> None:
    listener, client, server = await net.pair()
    async with closing(client, listener):
        with anyio.CancelScope() as outer:
            outer.cancel()
            await client.exchange(b"ask", 100)
        assert outer.cancelled_caught
        with anyio.move_on_after(net.settle) as outer:
            await client.exchange(b"ask", 100)
        assert outer.cancelled_caught
        await server.aclose()
        with pytest.raises(ConnectionClosed):
            await client.exchange(b"ask", 5 * net.settle)


async def test_receive_unless_ends_on_a_frame_the_interrupt_or_the_timeout_and_loses_nothing(
    net: Harness, clock: object
) -> None:
    """A held long poll's watch: a frame that comes first is returned; the interrupt (work for the poll)
    or the time running out ends the wait with None, and a frame that comes later waits for the next
    read; an interrupt already set ends it at once; the peer closing ends it with `ConnectionClosed`."""
    listener, client, server = await net.pair()
    async with closing(client, listener):
        arrived = scopes.Flag()
        await client.send(b"first")
        assert await server.receive_unless(arrived, 5 * net.settle) == b"first"

        async def interrupt_then_send() -> None:
            await anyio.sleep(net.settle)
            arrived.set()
            await anyio.sleep(net.settle)
            await client.send(b"after")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(interrupt_then_send)
            started = anyio.current_time()
            assert await server.receive_unless(arrived, 100) is None
            assert net.settle - 1e-9 <= anyio.current_time() - started < 50
        assert await server.receive() == b"after"

        started = anyio.current_time()
        assert await server.receive_unless(arrived, 100) is None  # set already
        assert anyio.current_time() - started < 50
        started = anyio.current_time()
        assert await server.receive_unless(scopes.Flag(), net.settle) is None
        assert anyio.current_time() - started >= net.settle - 1e-9

        await client.aclose()
        with pytest.raises(ConnectionClosed):
            await server.receive_unless(scopes.Flag(), 5 * net.settle)
        await server.aclose()


async def test_oversize_frame_is_refused_and_the_stream_stays_usable(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    async with closing(client, server, listener):
        with pytest.raises(FrameTooLarge, match=f"{MAX_FRAME_SIZE + 1} bytes exceeds the maximum") as caught:
            await client.send(b"x" * (MAX_FRAME_SIZE + 1))
        assert isinstance(caught.value, WireFrameTooLarge) and isinstance(caught.value, NetError)
        await client.send(b"ok")
        assert await server.receive() == b"ok"


async def test_frames_must_be_bytes(net: Harness, clock: object) -> None:
    listener, client, server = await net.pair()
    async with closing(client, server, listener):
        with pytest.raises(TypeError, match="a frame is bytes, got int"):
            await client.send(5)  # type: ignore[arg-type]
        await client.send(bytearray(b"fine"))  # type: ignore[arg-type]  # bytes-like is accepted
        assert await server.receive() == b"fine"


async def test_connect_refused_when_nothing_listens(net: Harness, clock: object) -> None:
    with pytest.raises(ConnectRefused, match="refused"):
        await net.client.connect(net.refused_address())


async def test_connect_times_out_when_nobody_answers(net: Harness, clock: object) -> None:
    with net.silent_address() as address:
        started = anyio.current_time()
        with pytest.raises(ConnectTimeout, match=r"no answer within 0\.3 s"):
            await net.client.connect(address, timeout=0.3)
        assert 0.3 <= anyio.current_time() - started < 3


async def test_closed_listener_refuses_and_wakes_accept(net: Harness, clock: object) -> None:
    listener = await net.server.listen(net.listen_address)
    address = listener.address

    async def close_soon() -> None:
        await anyio.sleep(net.settle / 4)
        await listener.aclose()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(close_soon)
        with anyio.fail_after(5 * net.settle), pytest.raises(ListenerClosed):
            await listener.accept()
    with pytest.raises(ListenerClosed):
        await listener.accept()
    with pytest.raises(ConnectRefused):
        await net.client.connect(address)


async def test_address_in_use(net: Harness, clock: object) -> None:
    listener = await net.server.listen(net.listen_address)
    async with closing(listener):
        with pytest.raises(AddressInUse, match="already in use"):
            await net.server.listen(listener.address)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("nowhere", "has no port"),
        ("host:", "is not a number"),
        ("host:http", "is not a number"),
        ("host:70000", "above 65535"),
        (":80", "has no host"),
        ("::1:80", "must be in brackets"),
        ("host:0", "cannot connect to port 0"),
    ],
)
async def test_bad_connect_addresses_are_named(
    net: Harness, clock: object, address: str, problem: str
) -> None:
    with pytest.raises(InvalidAddress, match=problem) as caught:
        await net.client.connect(address)
    assert isinstance(caught.value, ValueError)


async def test_serve_runs_a_handler_per_connection(net: Harness, clock: object) -> None:
    listener = await net.server.listen(net.listen_address)

    async def echo(stream: FramedStream) -> None:
        while True:
            await stream.send(b"echo:" + await stream.receive())

    async def client_session(tag: bytes) -> None:
        async with await net.client.connect(listener.address) as stream:
            for i in range(5):
                await stream.send(tag + bytes([i]))
                assert await stream.receive() == b"echo:" + tag + bytes([i])

    async with anyio.create_task_group() as tasks:
        await tasks.start(serve, listener, echo)
        async with anyio.create_task_group() as clients:
            for tag in (b"a", b"b", b"c"):
                clients.start_soon(client_session, tag)
        await listener.aclose()  # serve returns once the listener is closed and handlers finished
