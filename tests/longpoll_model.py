"""A small long-poll model: the foundation's end-to-end check and the determinism guard's workload
(tests/test_determinism.py); no longer part of the product.

Ten clients long-poll one server over the simulated network for six simulated hours. Work arrives at the
server as Poisson events; the server answers a held poll at once when work for that client arrives, else at
the end of the long-poll interval. Links have random latency and jitter, and half the clients are
partitioned from the server for a while. Everything the model does is a trace event, so two runs with the
same seed have the same trace hash, and a different seed a different one.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import anyio
import trio

from cosigner_ha import wire
from cosigner_ha.env import Environment
from cosigner_ha.net import ConnectionClosed, FramedStream, LinkSpec, NetError, Network, SimNetwork, serve

SERVER = "saas"
ADDRESS = "saas:443"


@dataclasses.dataclass(frozen=True, slots=True)
class ModelConfig:
    clients: int = 10
    duration: float = 6 * 3600.0
    poll_interval: float = 30.0
    work_rate: float = 1 / 120.0  # work items per second per client
    latency: float = 0.040
    jitter: float = 0.020
    partition_at: float = 2 * 3600.0
    partition_for: float = 40 * 60.0


@dataclasses.dataclass(slots=True)
class ModelResult:
    trace_hash: str
    events: int
    polls: dict[str, int]
    delivered: dict[str, int]
    reconnects: dict[str, int]
    produced: int
    queued_at_end: int = 0
    sent: int = 0


class _Server:
    def __init__(self, env: Environment, config: ModelConfig) -> None:
        self.env = env
        self.config = config
        self.queues: dict[str, deque[wire.WorkItem]] = {}
        self.wakeups: dict[str, trio.Event] = {}
        self.produced = 0
        self.sent = 0

    def _queue(self, client: str) -> deque[wire.WorkItem]:
        return self.queues.setdefault(client, deque())

    async def produce(self, clients: list[str]) -> None:
        rng = self.env.rng("work")
        while True:
            await self.env.clock.sleep(rng.expovariate(self.config.work_rate * len(clients)))
            client = clients[rng.randrange(len(clients))]
            self.produced += 1
            item = wire.AvailabilityProbe(f"w-{self.produced}", f"tx-{self.produced}", client, 0.0)
            self._queue(client).append(item)
            self.env.trace.record("work_created", client=client, item=item.probe_id)
            event = self.wakeups.pop(client, None)
            if event is not None:
                event.set()

    async def handle(self, stream: FramedStream) -> None:
        try:
            while True:
                request = wire.decode_as(await stream.receive(), wire.Request)
                if not isinstance(request, wire.Poll):
                    await stream.send(wire.encode(wire.Error("UNEXPECTED", request.TYPE)))
                    continue
                client = request.cosigner_id
                queue = self._queue(client)
                if not queue:
                    event = self.wakeups.setdefault(client, trio.Event())
                    with anyio.move_on_after(self.config.poll_interval):
                        await event.wait()
                items = list(queue)
                queue.clear()
                await stream.send(wire.encode(wire.PollResult(items)))
                self.sent += len(items)
                self.env.trace.record("poll_answered", client=client, items=len(items))
        except (ConnectionClosed, NetError, wire.CodecError):
            return


async def _client(
    env: Environment, network: Network, name: str, config: ModelConfig, result: ModelResult
) -> None:
    rng = env.rng("backoff")
    while True:
        try:
            stream = await network.connect(ADDRESS, timeout=10.0)
        except NetError as exc:
            result.reconnects[name] += 1
            env.trace.record("connect_failed", client=name, error=type(exc).__name__)
            await env.clock.sleep(1.0 + rng.random() * 4.0)
            continue
        try:
            while True:
                await stream.send(wire.encode(wire.Poll("token", name, [name])))
                result.polls[name] += 1
                with anyio.fail_after(config.poll_interval + 15.0):
                    answer = wire.decode_as(await stream.receive(), wire.Response)
                if isinstance(answer, wire.PollResult):
                    result.delivered[name] += len(answer.items)
                    for item in answer.items:
                        if isinstance(item, wire.AvailabilityProbe):
                            env.trace.record("work_received", client=name, item=item.probe_id)
        except (TimeoutError, ConnectionClosed, NetError) as exc:
            result.reconnects[name] += 1
            env.trace.record("poll_broken", client=name, error=type(exc).__name__)
            await stream.aclose()
            await env.clock.sleep(1.0 + rng.random() * 4.0)


async def run_model(env: Environment, config: ModelConfig = ModelConfig()) -> ModelResult:
    """Run the model inside `simulate`; returns counts and the trace hash."""
    names = [f"node-{i}" for i in range(config.clients)]
    network = SimNetwork(env.rng("net"), default_link=LinkSpec(latency=config.latency, jitter=config.jitter))
    server = _Server(env.child("saas"), config)
    result = ModelResult("", 0, dict.fromkeys(names, 0), dict.fromkeys(names, 0), dict.fromkeys(names, 0), 0)
    listener = await network.host(SERVER).listen(ADDRESS)

    async def faults() -> None:
        cut = names[: len(names) // 2]
        await env.clock.sleep_until(config.partition_at)
        network.partition([SERVER], cut)
        env.trace.record("partition", hosts=cut)
        await env.clock.sleep(config.partition_for)
        network.heal([SERVER], cut)
        env.trace.record("heal", hosts=cut)

    with trio.move_on_after(config.duration):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve, listener, server.handle)
            nursery.start_soon(server.produce, names)
            nursery.start_soon(faults)
            for name in names:
                nursery.start_soon(_client, env.child(name), network.host(name), name, config, result)
    env.trace.record("end", produced=server.produced, delivered=sum(result.delivered.values()))
    result.produced = server.produced
    result.sent = server.sent
    result.queued_at_end = sum(len(q) for q in server.queues.values())
    result.events = env.trace.count
    result.trace_hash = env.trace.hash
    return result
