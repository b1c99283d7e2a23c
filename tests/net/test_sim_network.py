"""The simulated network's faults and timing, in virtual time (each test takes a `MockClock`)."""

from __future__ import annotations

import random

import anyio
import pytest
import trio
import trio.testing

from cosigner_ha.env import Environment, simulate
from cosigner_ha.net import (
    ConnectionBroken,
    ConnectionClosed,
    ConnectRefused,
    ConnectTimeout,
    HostDown,
    InvalidAddress,
    LinkSpec,
    ListenerClosed,
    SimNetwork,
    SimStream,
)

from .conftest import closing

MockClock = trio.testing.MockClock


def network(seed: int = 7, *, latency: float = 0.1, **options: float) -> SimNetwork:
    net = SimNetwork(random.Random(seed), default_link=LinkSpec(latency=latency), **options)  # type: ignore[arg-type]
    for name in ("a", "b", "c"):
        net.host(name)
    return net


async def connected(
    net: SimNetwork, src: str = "a", dst: str = "b", port: int = 443
) -> tuple[SimStream, SimStream]:
    listener = await net.host(dst).listen(f"{dst}:{port}")
    client = await net.host(src).connect(f"{dst}:{port}")
    server = await listener.accept()
    await listener.aclose()
    return client, server


async def receive_timed(stream: SimStream, count: int) -> list[tuple[float, bytes]]:
    """Each frame with the virtual time it was received at."""
    timed = []
    for _ in range(count):
        frame = await stream.receive()
        timed.append((anyio.current_time(), frame))
    return timed


def now() -> float:
    return anyio.current_time()


# -- timing ----------------------------------------------------------------------------------------------


async def test_latency_is_visible_in_virtual_time(autojump: MockClock) -> None:
    net = network(latency=0.25)
    start = now()
    client, server = await connected(net)
    assert now() - start == pytest.approx(0.5), "a connect costs one round trip"
    sent_at = now()
    await client.send(b"ping")
    assert await server.receive() == b"ping"
    assert now() - sent_at == pytest.approx(0.25)


async def test_jitter_varies_delay_within_bounds_and_keeps_order(autojump: MockClock) -> None:
    net = network()
    net.set_link("a", "b", LinkSpec(latency=0.1, jitter=0.5))
    client, server = await connected(net)
    sends: list[float] = []
    for i in range(50):
        sends.append(now())
        await client.send(bytes([i]))
        await anyio.sleep(0.01)  # far closer together than the jitter
    arrivals = await receive_timed(server, 50)
    assert [frame for _, frame in arrivals] == [bytes([i]) for i in range(50)]
    delays = [at - sent for (at, _), sent in zip(arrivals, sends, strict=True)]
    assert all(0.1 - 1e-9 <= d <= 0.6 + 1e-9 for d in delays), "a frame never waits past its own draw"
    assert len({round(d, 9) for d in delays}) > 10, "jitter should spread the delays"
    assert [at for at, _ in arrivals] == sorted(at for at, _ in arrivals)


async def test_loss_shows_as_delay_never_as_a_gap(autojump: MockClock) -> None:
    net = network()
    net.set_link("a", "b", LinkSpec(latency=0.05, loss=0.4, rto=1.0))
    client, server = await connected(net)
    lost_in_handshake = net.link_stats()[("a", "b")].retransmissions
    sends = []
    arrivals: list[tuple[float, bytes]] = []

    async def receiver() -> None:
        arrivals.extend(await receive_timed(server, 100))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(receiver)
        for i in range(100):
            sends.append(now())
            await client.send(i.to_bytes(2, "big"))
            await anyio.sleep(20)  # spaced out, so each delay is the frame's own
    assert [frame for _, frame in arrivals] == [i.to_bytes(2, "big") for i in range(100)]
    extra = [at - sent - 0.05 for (at, _), sent in zip(arrivals, sends, strict=True)]
    assert all(abs(e - round(e)) < 1e-6 for e in extra), "each loss costs exactly one RTO"
    stats = net.link_stats()[("a", "b")]
    assert stats.retransmissions - lost_in_handshake == round(sum(extra)) > 0
    assert stats.frames_delivered == 100 and stats.frames_dropped == 0


async def test_set_link_changes_only_frames_sent_afterwards(autojump: MockClock) -> None:
    net = network(latency=1.0)
    client, server = await connected(net)
    await client.send(b"slow")
    net.set_link("a", "b", LinkSpec(latency=0.1))
    await client.send(b"fast but behind")
    start = now()
    assert await receive_timed(server, 2) == [(start + 1.0, b"slow"), (start + 1.0, b"fast but behind")]
    assert net.link("a", "b") == net.link("b", "a") == LinkSpec(latency=0.1)
    assert net.link("a", "c") == LinkSpec(latency=1.0)


async def test_loopback_uses_its_own_link(autojump: MockClock) -> None:
    net = network(latency=5.0)
    start = now()
    client, server = await connected(net, "a", "a")
    await client.send(b"self")
    assert await server.receive() == b"self"
    assert now() == start
    assert client.local.startswith("a:") and client.peer == "a:443"


async def test_link_stats_count_frames_and_bytes_per_direction(autojump: MockClock) -> None:
    net = network()
    client, server = await connected(net)
    await client.send(b"12345")
    await client.send(b"")
    await server.send(b"xy")
    assert await server.receive() == b"12345"
    assert await server.receive() == b""
    assert await client.receive() == b"xy"
    stats = net.link_stats()
    assert list(stats) == [("a", "b"), ("b", "a")]
    assert (stats[("a", "b")].frames_sent, stats[("a", "b")].bytes_sent) == (2, 5)
    assert (stats[("a", "b")].frames_delivered, stats[("a", "b")].bytes_delivered) == (2, 5)
    assert (stats[("b", "a")].frames_delivered, stats[("b", "a")].bytes_delivered) == (1, 2)
    stats[("a", "b")].frames_sent = 99
    assert net.link_stats()[("a", "b")].frames_sent == 2, "link_stats() is a snapshot"


# -- partitions ------------------------------------------------------------------------------------------


async def test_partition_holds_frames_and_heal_delivers_them_in_order(autojump: MockClock) -> None:
    net = network(latency=1.0)
    client, server = await connected(net)
    await client.send(b"in flight")
    await anyio.sleep(0.5)
    net.partition("a", "b")  # catches the first frame half-way
    await client.send(b"sent during")
    with anyio.move_on_after(30) as scope:
        await server.receive()
    assert scope.cancelled_caught, "nothing crosses a partition"
    healed_at = now()
    net.heal("a", "b")
    assert await receive_timed(server, 2) == [
        (healed_at + 1.0, b"in flight"),
        (healed_at + 1.0, b"sent during"),
    ]
    await server.send(b"reply")
    assert await client.receive() == b"reply"


async def test_frames_delivered_before_the_partition_stay_readable(autojump: MockClock) -> None:
    net = network(latency=0.1)
    client, server = await connected(net)
    await client.send(b"arrived")
    await anyio.sleep(1)
    net.partition("a", "b")
    assert await server.receive() == b"arrived"


async def test_partition_beyond_stall_timeout_breaks_both_ends(autojump: MockClock) -> None:
    net = network(stall_timeout=60.0)
    client, server = await connected(net)
    net.partition("a", "b")
    cut_at = now()
    await anyio.sleep(10)
    await client.send(b"request")  # held from here: the stall clock starts now
    results: dict[str, tuple[float, BaseException]] = {}

    async def wait_on(name: str, stream: SimStream) -> None:
        try:
            await stream.receive()
        except ConnectionClosed as exc:
            results[name] = (now(), exc)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(wait_on, "client", client)  # waits for a reply that cannot come
        tasks.start_soon(wait_on, "server", server)
    for name in ("client", "server"):
        at, exc = results[name]
        assert isinstance(exc, ConnectionBroken)
        assert "stall timeout" in str(exc)
        assert at == pytest.approx(cut_at + 70.0), name
    net.heal("a", "b")
    with pytest.raises(ConnectionBroken):
        await client.send(b"too late")
    assert net.link_stats()[("a", "b")].frames_dropped == 1


async def test_an_idle_connection_survives_a_long_partition(autojump: MockClock) -> None:
    net = network(stall_timeout=60.0)
    client, server = await connected(net)
    net.partition("a", "b")
    await anyio.sleep(3600)
    net.heal("a", "b")
    await client.send(b"still there?")
    assert await server.receive() == b"still there?"


async def test_heal_after_the_stall_deadline_finds_the_connection_broken(autojump: MockClock) -> None:
    net = network(stall_timeout=60.0)
    client, server = await connected(net)
    net.partition("a", "b")
    await client.send(b"held")
    await anyio.sleep(61)  # nobody looks until after the deadline
    net.heal("a", "b")
    with pytest.raises(ConnectionBroken):
        await server.receive()


async def test_partitions_nest_and_group_partitions_cut_every_pair(autojump: MockClock) -> None:
    net = network()
    ab, ba = await connected(net, "a", "b")
    ac, ca = await connected(net, "a", "c")
    bc, cb = await connected(net, "b", "c")
    net.partition(["a"], ["b", "c"])
    net.partition("a", "b")
    for stream in (ab, ac, bc):
        await stream.send(b"x")
    assert await cb.receive() == b"x", "b and c are on the same side"
    net.heal(["a"], ["b", "c"])
    assert await ca.receive() == b"x"
    with anyio.move_on_after(10) as scope:
        await ba.receive()
    assert scope.cancelled_caught, "a-b was partitioned twice and healed once"
    net.heal("a", "b")
    assert await ba.receive() == b"x"


async def test_connect_across_a_partition_times_out_in_simulated_time(autojump: MockClock) -> None:
    net = network(connect_timeout=10.0)
    await net.host("b").listen("b:443")
    net.partition("a", "b")
    start = now()
    with pytest.raises(ConnectTimeout, match=r"no answer within 10 s \(a is partitioned from b\)"):
        await net.host("a").connect("b:443")
    assert now() - start == pytest.approx(10.0)
    with pytest.raises(ConnectTimeout, match=r"within 2\.5 s"):
        await net.host("a").connect("b:443", timeout=2.5)


async def test_connect_succeeds_when_the_partition_heals_in_time(autojump: MockClock) -> None:
    net = network(latency=0.1, connect_timeout=10.0)
    await net.host("b").listen("b:443")
    net.partition("a", "b")

    async def heal_later() -> None:
        await anyio.sleep(4)
        net.heal("a", "b")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(heal_later)
        start = now()
        stream = await net.host("a").connect("b:443")
    assert now() - start == pytest.approx(4.2)
    assert stream.peer == "b:443"


async def test_connect_to_an_unknown_host_times_out(autojump: MockClock) -> None:
    net = network()
    with pytest.raises(ConnectTimeout, match="no host is named 'ghost'"):
        await net.host("a").connect("ghost:443", timeout=1)


# -- clogging --------------------------------------------------------------------------------------------


async def test_clog_holds_frames_without_breaking_and_unclog_delivers_in_order(autojump: MockClock) -> None:
    net = network(latency=0.5, stall_timeout=60.0)
    client, server = await connected(net)
    net.clog("a", "b")
    for i in range(5):
        await client.send(bytes([i]))
    with anyio.move_on_after(600) as scope:
        await server.receive()
    assert scope.cancelled_caught
    unclogged_at = now()
    net.unclog("a", "b")
    assert await receive_timed(server, 5) == [(unclogged_at + 0.5, bytes([i])) for i in range(5)]
    with pytest.raises(ConnectTimeout, match="clogged"):
        net.clog("a", "b")
        await net.host("a").connect("b:1", timeout=1)


# -- crash, restart, pause -------------------------------------------------------------------------------


async def test_crash_breaks_every_connection_of_the_host(autojump: MockClock) -> None:
    net = network(latency=1.0)
    listener = await net.host("b").listen("b:443")
    client = await net.host("a").connect("b:443")
    server = await listener.accept()
    other_client, other_server = await connected(net, "c", "b", port=8443)
    await server.send(b"on the wire")
    await anyio.sleep(0.5)
    crashed_at = now()
    net.crash("b")
    with pytest.raises(ConnectionBroken, match="host b crashed"):
        await server.receive()
    with pytest.raises(ConnectionBroken, match="host b crashed"):
        await other_server.send(b"x")
    with pytest.raises(ListenerClosed, match="host b crashed"):
        await listener.accept()
    assert await client.receive() == b"on the wire", "what had left the host still arrives"
    with pytest.raises(ConnectionBroken, match="reset"):
        await client.receive()
    assert now() == pytest.approx(crashed_at + 1.0)
    with pytest.raises(ConnectionBroken, match="reset"):
        await other_client.receive()
    with pytest.raises(ConnectTimeout, match="b is down"):
        await net.host("a").connect("b:443", timeout=5)
    with pytest.raises(HostDown):
        await net.host("b").connect("a:443")
    with pytest.raises(HostDown):
        await net.host("b").listen("b:443")


async def test_crash_wakes_the_host_s_own_waiting_tasks(autojump: MockClock) -> None:
    net = network()
    _, server = await connected(net)
    listener = await net.host("b").listen("b:80")
    net.pause("b")
    outcomes: list[str] = []

    async def expect(kind: type[BaseException], call: object) -> None:
        with pytest.raises(kind):
            await call()  # type: ignore[operator]
        outcomes.append(kind.__name__)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(expect, ConnectionBroken, server.receive)
        tasks.start_soon(expect, ListenerClosed, listener.accept)
        tasks.start_soon(expect, HostDown, lambda: net.host("b").connect("a:1"))
        await anyio.sleep(5)  # all three are frozen by the pause
        assert outcomes == []
        net.crash("b")
    assert sorted(outcomes) == ["ConnectionBroken", "HostDown", "ListenerClosed"]


async def test_finished_connections_are_forgotten(autojump: MockClock) -> None:
    net = network()
    for _ in range(3):
        client, server = await connected(net)
        await client.aclose()
        assert net.host("a").open_connections == 1, "the server end is still open"
        await server.aclose()
    assert net.host("a").open_connections == net.host("b").open_connections == 0
    client, server = await connected(net)
    net.partition("a", "b")
    await client.send(b"held")
    await anyio.sleep(61)
    with pytest.raises(ConnectionBroken):
        await server.receive()
    assert net.host("a").open_connections == 0, "a broken connection is forgotten at once"


async def test_restart_brings_the_host_back_empty(autojump: MockClock) -> None:
    net = network()
    await net.host("b").listen("b:443")
    net.crash("b")
    net.crash("b")  # no-op
    net.restart("b")
    assert net.host("b").is_up
    with pytest.raises(ConnectRefused):
        await net.host("a").connect("b:443")
    client, server = await connected(net)
    await client.send(b"back")
    assert await server.receive() == b"back"


async def test_connect_waiting_on_a_crashed_host_succeeds_after_restart(autojump: MockClock) -> None:
    net = network(latency=0.1)
    net.crash("b")

    async def restart_later() -> None:
        await anyio.sleep(3)
        net.restart("b")
        await net.host("b").listen("b:443")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(restart_later)
        stream = await net.host("a").connect("b:443", timeout=10)
    assert stream.peer == "b:443"


async def test_pause_queues_frames_and_never_breaks(autojump: MockClock) -> None:
    net = network(latency=0.1, stall_timeout=60.0)
    client, server = await connected(net)
    net.pause("b")
    net.pause("b")  # pauses nest
    await client.send(b"while paused")
    got: list[tuple[float, bytes]] = []

    async def reader() -> None:
        got.extend(await receive_timed(server, 1))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reader)
        await anyio.sleep(300)
        net.resume("b")
        await anyio.sleep(1)
        assert not got, "still paused once"
        resumed_at = now()
        net.resume("b")
    assert got == [(resumed_at, b"while paused")]
    assert net.link_stats()[("a", "b")].frames_delivered == 1
    with pytest.raises(ValueError, match="cannot resume host 'b': it is not paused"):
        net.resume("b")


async def test_a_paused_host_cannot_send(autojump: MockClock) -> None:
    net = network(latency=0.1)
    client, server = await connected(net)
    net.pause("a")
    with anyio.move_on_after(5) as scope:
        await client.send(b"frozen")
    assert scope.cancelled_caught
    net.resume("a")
    with anyio.move_on_after(5) as scope:
        await server.receive()
    assert scope.cancelled_caught, "the cancelled send sent nothing"


async def test_exchange_on_a_paused_host_times_out_sending_nothing(autojump: MockClock) -> None:
    net = network(latency=0.1)
    client, server = await connected(net)
    net.pause("a")
    started = now()
    assert await client.exchange(b"frozen", 5) is None
    assert now() == started + 5
    net.resume("a")
    with anyio.move_on_after(5) as scope:
        await server.receive()
    assert scope.cancelled_caught, "the timed-out exchange sent nothing"


async def test_exchange_answer_held_by_a_paused_receiver_times_out_then_arrives(autojump: MockClock) -> None:
    net = network(latency=0.1)
    client, server = await connected(net)
    await server.send(b"answer")
    await anyio.sleep(1)  # arrived, but the client's host is frozen before it reads it
    net.pause("a")
    started = now()
    assert await client.exchange(b"ask", 3) is None
    assert now() == started + 3
    net.resume("a")
    assert await client.receive() == b"answer"


async def test_exchange_wakes_when_the_answer_is_due_and_leaves_no_deadline(autojump: MockClock) -> None:
    """The receiver parks until the deadline; the answer's due time brings the wake-up forward, and
    nothing is left in trio's deadline heap afterwards (MockClock would jump to it)."""
    net = network(latency=0.25)
    client, server = await connected(net)

    async def answer() -> None:
        assert await server.receive() == b"ask"
        await anyio.sleep(2)
        await server.send(b"answer")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(answer)
        started = now()
        assert await client.exchange(b"ask", 30) == b"answer"
        assert now() == pytest.approx(started + 2.5)
    assert trio.lowlevel.current_statistics().seconds_to_next_deadline == float("inf")


# -- connections ending ----------------------------------------------------------------------------------


async def test_send_after_the_peer_closed_fails_once_the_close_arrived(autojump: MockClock) -> None:
    net = network(latency=1.0)
    client, server = await connected(net)
    await server.aclose()
    await client.send(b"into the void")  # the close is still on the wire
    await anyio.sleep(1)
    with pytest.raises(ConnectionClosed, match="b:443 closed the connection"):
        await client.send(b"now it is known")
    assert net.link_stats()[("a", "b")].frames_dropped == 1


async def test_closing_a_listener_resets_connections_nobody_accepted(autojump: MockClock) -> None:
    net = network()
    listener = await net.host("b").listen("b:443")
    client = await net.host("a").connect("b:443")
    await listener.aclose()
    with pytest.raises(ConnectionBroken, match="reset"):
        await client.receive()


async def test_cancelled_connect_leaves_no_half_open_connection(autojump: MockClock) -> None:
    net = network(latency=1.0)
    listener = await net.host("b").listen("b:443")
    with anyio.move_on_after(1.5):  # after the SYN arrived, before the answer returns
        await net.host("a").connect("b:443")
    async with closing(listener):
        server = await listener.accept()
        with pytest.raises(ConnectionBroken):
            await server.receive()


async def test_listen_port_zero_and_own_name_only(autojump: MockClock) -> None:
    net = network()
    first = await net.host("b").listen("b:0")
    second = await net.host("b").listen("b:0")
    assert first.address != second.address
    assert first.address.startswith("b:")
    with pytest.raises(InvalidAddress, match="host b can only listen on its own name"):
        await net.host("b").listen("a:80")


# -- determinism -----------------------------------------------------------------------------------------


def _delivery_times(seed: int) -> list[float]:
    async def main(env: Environment) -> list[float]:
        net = SimNetwork(env.rng("net"), default_link=LinkSpec(latency=0.05, jitter=0.2, loss=0.2))
        client, server = await connected(net)
        times = []
        for i in range(40):
            await client.send(bytes([i]))
            await anyio.sleep(0.03)
        for _ in range(40):
            await server.receive()
            times.append(anyio.current_time())
        return times

    return simulate(main, seed)


def test_same_seed_same_delivery_times_different_seed_different() -> None:
    assert _delivery_times(11) == _delivery_times(11)
    assert _delivery_times(11) != _delivery_times(12)


def test_six_simulated_hours_run_in_virtual_time() -> None:
    """A long-poll pattern over six simulated hours, with a partition every hour, finishes at once."""

    async def main() -> float:
        net = SimNetwork(random.Random(3), default_link=LinkSpec(latency=0.02, jitter=0.01, loss=0.01))
        net.host("node")
        net.host("saas")
        client, server = await connected(net, "node", "saas")

        async def saas() -> None:
            while True:
                request = await server.receive()
                await anyio.sleep(30)
                await server.send(b"nothing:" + request)

        async def faults() -> None:
            while True:
                await anyio.sleep(3600)
                net.partition("node", "saas")
                await anyio.sleep(20)
                net.heal("node", "saas")

        answered = 0
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(saas)
            tasks.start_soon(faults)
            while anyio.current_time() < 6 * 3600:
                await client.send(b"poll")
                assert await client.receive() == b"nothing:poll"
                answered += 1
            tasks.cancel_scope.cancel()
        return answered

    assert trio.run(main, clock=MockClock(autojump_threshold=0)) > 600
