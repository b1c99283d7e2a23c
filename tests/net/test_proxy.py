"""The fault proxy forwards bytes, and partitions, delays, clogs, loses and heals as its faults say."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from anyio.abc import SocketStream

from cosigner_ha.net.proxy import FaultProxy


async def _echo(stream: SocketStream) -> None:
    async with stream:
        try:
            while True:
                await stream.send(await stream.receive())
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    async with anyio.create_task_group() as group:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        group.start_soon(listener.serve, _echo)
        fault_proxy = FaultProxy("127.0.0.1", port, seed=1)
        await group.start(fault_proxy.serve)
        yield fault_proxy
        group.cancel_scope.cancel()


async def _round_trip(proxy: FaultProxy, data: bytes = b"ping") -> float:
    async with await anyio.connect_tcp("127.0.0.1", proxy.listen_port) as stream:
        started = anyio.current_time()
        await stream.send(data)
        with anyio.fail_after(5):
            assert await stream.receive() == data
        return anyio.current_time() - started


async def _is_cut(stream: SocketStream) -> bool:
    with anyio.fail_after(5):
        try:
            await stream.send(b"x")
            await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return True
    return False


async def test_forwards_bytes_both_ways(proxy: FaultProxy) -> None:
    assert await _round_trip(proxy, b"hello through the proxy") < 1.0


async def test_latency_delays_each_direction(proxy: FaultProxy) -> None:
    proxy.set_latency(0.2)
    assert await _round_trip(proxy) >= 0.4  # 0.2 s there and 0.2 s back
    proxy.heal()
    assert await _round_trip(proxy) < 0.2


async def test_jitter_spreads_each_chunk_s_delay_between_latency_and_latency_plus_jitter(
    proxy: FaultProxy,
) -> None:
    proxy.set_latency(0.02, jitter=0.2)
    trips = [await _round_trip(proxy) for _ in range(12)]
    assert min(trips) >= 0.04, "never less than the latency, there and back"
    assert max(trips) <= 0.44 + 0.3, "at most latency plus jitter each way (and a loaded machine's slack)"
    assert max(trips) - min(trips) > 0.1, f"the draws spread the delays: {trips}"
    proxy.heal()
    assert await _round_trip(proxy) < 0.02 + 0.1, "healed: no latency, no jitter"


async def test_jitter_never_reorders_bytes_each_direction_is_first_in_first_out(proxy: FaultProxy) -> None:
    proxy.set_latency(0.0, jitter=0.15)
    sent = b"".join(b"%03d," % i for i in range(40))
    async with await anyio.connect_tcp("127.0.0.1", proxy.listen_port) as stream:
        started = anyio.current_time()
        for i in range(40):  # separate chunks, each with its own draw
            await stream.send(b"%03d," % i)
            await anyio.sleep(0.003)
        received = b""
        with anyio.fail_after(10):
            while len(received) < len(sent):
                received += await stream.receive()
        elapsed = anyio.current_time() - started
    assert received == sent, "a chunk drawn a shorter delay waits for the one before it"
    assert elapsed >= 0.12 + 0.02, "the chunks were delayed (draws up to 0.15 s each way)"


def test_a_latency_or_jitter_that_is_not_a_duration_is_refused_and_changes_nothing() -> None:
    proxy = FaultProxy("127.0.0.1", 1)
    proxy.set_latency(0.1, jitter=0.05)
    for seconds, jitter in ((0.2, -0.1), (0.2, float("nan")), (-1.0, 0.0)):
        with pytest.raises(ValueError, match=r"(latency|jitter) must be a finite number of seconds"):
            proxy.set_latency(seconds, jitter=jitter)
    assert (proxy.faults.latency, proxy.faults.jitter) == (0.1, 0.05)


async def test_partition_cuts_live_connections_and_refuses_new_ones_until_healed(proxy: FaultProxy) -> None:
    async with await anyio.connect_tcp("127.0.0.1", proxy.listen_port) as live:
        await live.send(b"a")
        assert await live.receive() == b"a"
        proxy.partition()
        assert await _is_cut(live)
    async with await anyio.connect_tcp("127.0.0.1", proxy.listen_port) as fresh:
        assert await _is_cut(fresh)
    proxy.heal()
    assert await _round_trip(proxy) < 1.0


async def test_clogging_holds_bytes_until_unclogged(proxy: FaultProxy) -> None:
    async with await anyio.connect_tcp("127.0.0.1", proxy.listen_port) as stream:
        proxy.clog()
        await stream.send(b"held")
        with anyio.move_on_after(0.3) as waited:
            await stream.receive()
        assert waited.cancelled_caught
        proxy.unclog()
        with anyio.fail_after(5):
            assert await stream.receive() == b"held"


async def test_total_loss_resets_the_connection(proxy: FaultProxy) -> None:
    proxy.set_loss(1.0)
    async with await anyio.connect_tcp("127.0.0.1", proxy.listen_port) as stream:
        assert await _is_cut(stream)
    proxy.heal()
    assert await _round_trip(proxy) < 1.0


def test_bad_fault_values_are_refused_clearly() -> None:
    proxy = FaultProxy("127.0.0.1", 1)
    with pytest.raises(ValueError, match="latency must be"):
        proxy.set_latency(-1)
    with pytest.raises(ValueError, match="loss must be a probability"):
        proxy.set_loss(1.5)


def test_the_proxy_runs_on_asyncio_too() -> None:
    async def main() -> float:
        async with anyio.create_task_group() as group:
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
            group.start_soon(listener.serve, _echo)
            fault_proxy = FaultProxy("127.0.0.1", listener.extra(anyio.abc.SocketAttribute.local_port))
            await group.start(fault_proxy.serve)
            fault_proxy.set_latency(0.1)
            elapsed = await _round_trip(fault_proxy)
            group.cancel_scope.cancel()
        return elapsed

    assert anyio.run(main, backend="asyncio") >= 0.2
