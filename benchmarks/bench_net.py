"""Framed round trips per second of wall time over each transport, and what virtual time buys.

Run: `.venv/bin/python benchmarks/bench_net.py [--n N]`. Prints one line per measurement and each
rate relative to the floor measured in the same run: two trio tasks passing the same messages over an
anyio memory channel (no network model at all). A second reference adds a 10 ms sleep per hop, the
least any latency model in virtual time costs (each hop is a jump of the MockClock).

`simulated_round_trips(n)` (synchronous) and `round_trips(factory, n)` (async; `factory()` returns
`(server_network, client_network, listen_address)`) are importable, for `benchmarks/bench_kernel.py`
to quote the same figure.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Awaitable, Callable

import anyio
import trio
import trio.testing

from cosigner_ha.net import FramedStream, LinkSpec, Network, SimNetwork, TcpNetwork

Factory = Callable[[], tuple[Network, Network, str]]
PAYLOAD = b"p" * 200  # the size of a long-poll request or an MPC round message


def sim_factory(seed: int = 1, link: LinkSpec | None = None) -> Factory:
    def make() -> tuple[Network, Network, str]:
        net = SimNetwork(random.Random(seed), default_link=link or LinkSpec(latency=0.01, jitter=0.005))
        return net.host("saas"), net.host("node"), "saas:443"

    return make


def tcp_factory() -> Factory:
    def make() -> tuple[Network, Network, str]:
        tcp = TcpNetwork()
        return tcp, tcp, "127.0.0.1:0"

    return make


async def round_trips(factory: Factory, n: int) -> float:
    """Round trips per wall-clock second: the client sends a frame, the server echoes it back."""
    server_net, client_net, address = factory()
    listener = await server_net.listen(address)

    async def echo(stream: FramedStream) -> None:
        for _ in range(n):
            await stream.send(await stream.receive())

    accepted: list[FramedStream] = []

    async def accept() -> None:
        accepted.append(await listener.accept())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(accept)
        client = await client_net.connect(listener.address)
    server = accepted[0]
    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(echo, server)
        for _ in range(n):
            await client.send(PAYLOAD)
            await client.receive()
    elapsed = time.perf_counter() - started
    for resource in (client, server, listener):
        await resource.aclose()
    return n / elapsed


async def memory_round_trips(n: int, latency: float = 0.0) -> float:
    """The floor: the same ping-pong between two tasks over anyio memory channels, each hop sleeping
    `latency` first when given (the least a latency model in virtual time can cost)."""
    to_server, server_inbox = anyio.create_memory_object_stream[bytes](1)
    to_client, client_inbox = anyio.create_memory_object_stream[bytes](1)

    async def echo() -> None:
        for _ in range(n):
            frame = await server_inbox.receive()
            if latency:
                await anyio.sleep(latency)
            await to_client.send(frame)

    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(echo)
        for _ in range(n):
            if latency:
                await anyio.sleep(latency)
            await to_server.send(PAYLOAD)
            await client_inbox.receive()
    return n / (time.perf_counter() - started)


async def six_hour_long_poll() -> tuple[float, int]:
    """A node long-polling the SaaS for six simulated hours (30 s polls, an hourly partition)."""
    net = SimNetwork(random.Random(3), default_link=LinkSpec(latency=0.02, jitter=0.01, loss=0.01))
    saas, node = net.host("saas"), net.host("node")
    listener = await saas.listen("saas:443")
    accepted: list[FramedStream] = []

    async def accept() -> None:
        accepted.append(await listener.accept())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(accept)
        client = await node.connect("saas:443")
    server = accepted[0]
    polls = 0
    started = time.perf_counter()

    async def gateway() -> None:
        while True:
            request = await server.receive()
            await anyio.sleep(30)
            await server.send(request)

    async def faults() -> None:
        while True:
            await anyio.sleep(3600)
            net.partition("node", "saas")
            await anyio.sleep(20)
            net.heal("node", "saas")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(gateway)
        tasks.start_soon(faults)
        while anyio.current_time() < 6 * 3600:
            await client.send(PAYLOAD)
            await client.receive()
            polls += 1
        tasks.cancel_scope.cancel()
    return time.perf_counter() - started, polls


def _virtual(main: Callable[[], Awaitable[float]]) -> float:
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def simulated_round_trips(n: int = 20_000) -> float:
    """Round trips per wall second over the simulated network (10 ms + jitter), on trio's MockClock."""
    return _virtual(lambda: round_trips(sim_factory(), n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="round trips per measurement")
    n = parser.parse_args().n

    floor = _virtual(lambda: memory_round_trips(n))
    sleepy = _virtual(lambda: memory_round_trips(n, latency=0.01))
    sim = simulated_round_trips(n)
    lossy = _virtual(lambda: round_trips(sim_factory(link=LinkSpec(latency=0.01, jitter=0.01, loss=0.1)), n))
    tcp = trio.run(round_trips, tcp_factory(), max(n // 4, 1))
    wall, polls = trio.run(six_hour_long_poll, clock=trio.testing.MockClock(autojump_threshold=0))

    print(f"{'memory channel (reference)':32}{floor:10.0f} round trips/s")
    for label, rate in (
        ("memory channel + 10 ms sleeps", sleepy),
        ("sim network, 10 ms + jitter", sim),
        ("sim network, 10% loss", lossy),
        ("tcp loopback 127.0.0.1", tcp),
    ):
        print(f"{label:32}{rate:10.0f} round trips/s   ({rate / floor:.2f} x reference)")
    print(f"{'6 simulated hours of long-poll':32}{wall:10.3f} s wall for {polls} polls")


if __name__ == "__main__":
    main()
