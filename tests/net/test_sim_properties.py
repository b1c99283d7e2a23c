"""Hypothesis: whatever the link does (latency, jitter, loss, clogs, short partitions, changes of spec
mid-stream) and however often the receiver gives up waiting, every frame arrives once, whole and in
order, and the same seed replays the same delivery times.

Runs go through `cosigner_ha.env.simulate`, as the cluster's will: virtual time, trio's scheduling
seeded (frames due at the same instant as a fault are otherwise ordered by trio's shuffle), and the
network's draws from the environment's "net" stream."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from cosigner_ha.env import Environment, simulate
from cosigner_ha.net import LinkSpec, SimNetwork, SimStream

STALL = 60.0

link_specs = st.builds(
    LinkSpec,
    latency=st.floats(0, 2),
    jitter=st.floats(0, 2),
    loss=st.floats(0, 0.7),
    rto=st.floats(0.01, 2),
)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.binary(max_size=3000)),
        st.tuples(st.just("sleep"), st.floats(0, 3)),
        st.tuples(st.just("partition"), st.floats(0.1, 10)),
        st.tuples(st.just("clog"), st.floats(0.1, 90)),  # clogs outlast the stall timeout
        st.tuples(st.just("link"), link_specs),
    ),
    max_size=60,
)


@dataclass
class Outcome:
    echoed: list[bytes]
    times: list[float]
    dropped: int


def run(seed: int, spec: LinkSpec, ops: list[tuple[str, object]], patience: list[float]) -> Outcome:
    async def main(env: Environment) -> Outcome:
        net = SimNetwork(env.rng("net"), default_link=spec, stall_timeout=STALL)
        listener = await net.host("server").listen("server:443")
        client = await net.host("client").connect("server:443", timeout=10_000)
        server = await listener.accept()
        sent = [payload for kind, payload in ops if kind == "send"]
        echoed: list[bytes] = []
        times: list[float] = []

        async def impatient_receive(stream: SimStream, into: list[bytes], record: bool) -> None:
            tries = 0
            while len(into) < len(sent):
                with anyio.move_on_after(patience[tries % len(patience)]):
                    frame = await stream.receive()
                    into.append(frame)
                    if record:
                        times.append(anyio.current_time())
                tries += 1

        async def echo() -> None:
            for _ in sent:
                await server.send(await server.receive())

        async def fault(kind: str, duration: float) -> None:
            getattr(net, kind)("client", "server")
            await anyio.sleep(duration)
            getattr(net, "heal" if kind == "partition" else "unclog")("client", "server")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(impatient_receive, client, echoed, True)
            tasks.start_soon(echo)
            for kind, argument in ops:
                if kind == "send":
                    assert isinstance(argument, bytes)
                    await client.send(argument)
                elif kind == "sleep":
                    assert isinstance(argument, float)
                    await anyio.sleep(argument)
                elif kind == "link":
                    assert isinstance(argument, LinkSpec)
                    net.set_link("client", "server", argument)
                else:
                    assert isinstance(argument, float)
                    tasks.start_soon(fault, kind, argument)
        dropped = sum(stats.frames_dropped for stats in net.link_stats().values())
        return Outcome(echoed, times, dropped)

    return simulate(main, seed)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    spec=link_specs,
    ops=operations,
    patience=st.lists(st.floats(0.1, 5), min_size=1, max_size=5),  # each timeout is a wake-up
)
def test_every_frame_arrives_once_whole_and_in_order(
    seed: int, spec: LinkSpec, ops: list[tuple[str, object]], patience: list[float]
) -> None:
    partitions = sum(arg for kind, arg in ops if kind == "partition" and isinstance(arg, float))
    assume(partitions < STALL - 5)  # even if they all overlap, no cut lasts the stall timeout
    outcome = run(seed, spec, ops, patience)
    assert outcome.echoed == [payload for kind, payload in ops if kind == "send"]
    assert outcome.dropped == 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), spec=link_specs, ops=operations)
def test_the_same_seed_replays_the_same_delivery_times(
    seed: int, spec: LinkSpec, ops: list[tuple[str, object]]
) -> None:
    partitions = sum(arg for kind, arg in ops if kind == "partition" and isinstance(arg, float))
    assume(partitions < STALL - 5)
    first, second = run(seed, spec, ops, [0.5]), run(seed, spec, ops, [0.5])
    assert first == second


# -- a request's round trip: `exchange` keeps its timeout without a scope, and must be the scoped version --

requests = st.lists(
    st.tuples(
        st.floats(0.05, 5),  # the client's timeout
        st.floats(0, 6),  # how long the server takes to answer
        st.floats(0, 3),  # the client's pause before its next request
    ),
    min_size=1,
    max_size=25,
)
pauses = st.lists(st.tuples(st.floats(0, 20), st.floats(0, 4)), max_size=4)  # (when, how long) frozen


def round_trips(
    seed: int,
    spec: LinkSpec,
    plan: list[tuple[float, float, float]],
    frozen: list[tuple[float, float]],
    *,
    scoped: bool,
) -> list[tuple[bytes | None, float]]:
    """Each request's answer (None: timed out) and the time it came, with `exchange` or with the scope
    a caller would write (`move_on_after` around `send` and `receive`)."""

    async def main(env: Environment) -> list[tuple[bytes | None, float]]:
        net = SimNetwork(env.rng("net"), default_link=spec, stall_timeout=STALL)
        listener = await net.host("server").listen("server:443")
        client = await net.host("client").connect("server:443", timeout=10_000)
        server = await listener.accept()
        seen: list[tuple[bytes | None, float]] = []

        async def answer() -> None:
            for _, delay, _ in plan:
                request = await server.receive()
                await anyio.sleep(delay)
                await server.send(b"answer to " + request)

        async def freeze(at: float, length: float) -> None:
            await anyio.sleep(at)
            net.pause("client")
            await anyio.sleep(length)
            net.resume("client")

        async def ask(number: int, timeout: float) -> bytes | None:
            frame = str(number).encode()
            if not scoped:
                return await client.exchange(frame, timeout)
            with anyio.move_on_after(timeout):
                await client.send(frame)
                return await client.receive()
            return None

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(answer)
            for at, length in frozen:
                tasks.start_soon(freeze, at, length)
            for number, (timeout, _, gap) in enumerate(plan):
                seen.append((await ask(number, timeout), anyio.current_time()))
                await anyio.sleep(gap)
            tasks.cancel_scope.cancel()
        return seen

    return simulate(main, seed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    latency=st.floats(0, 1),
    jitter=st.floats(0.01, 1),  # some jitter: an answer due at the very instant of a deadline is a tie
    loss=st.floats(0, 0.5),
    plan=requests,
    frozen=pauses,
)
def test_exchange_answers_and_times_out_exactly_as_the_scoped_round_trip(
    seed: int,
    latency: float,
    jitter: float,
    loss: float,
    plan: list[tuple[float, float, float]],
    frozen: list[tuple[float, float]],
) -> None:
    """Same seed, same network draws, same schedule: the same answers, the same timeouts (late answers
    read by a later request), at the same virtual times, including while the client's host is paused."""
    spec = LinkSpec(latency=latency, jitter=jitter, loss=loss)
    ours = round_trips(seed, spec, plan, frozen, scoped=False)
    assert ours == round_trips(seed, spec, plan, frozen, scoped=True)
    event("some timed out" if any(answer is None for answer, _ in ours) else "none timed out")
