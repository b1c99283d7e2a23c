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
