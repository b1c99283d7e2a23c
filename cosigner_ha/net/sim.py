"""The simulated network: hosts with names, links with latency, jitter, loss, clogging and partitions.

Everything happens in the event loop's time (`trio.current_time()`; trio's `MockClock` in simulation)
and every random draw comes from the one `random.Random` handed in, in program order, so a seeded run
replays exactly. Nothing runs in the background: each direction of a connection keeps a queue of frames
stamped with their delivery time, and a receiver sleeps until the head frame is due, woken early when a
send or a fault changes its connection. Time that passes unobserved is accounted for when somebody next
looks (`SimConnection.settle`), so faults can be called at any moment from any task without a nursery.

Semantics (`docs/net.md` has the long form):

- A connection is a reliable in-order stream, like TCP. A frame is due at
  `max(previous frame's due time, now + latency + jitter draw + lost transmissions * rto)`.
- A partition or a clog holds the frames in flight and any sent later; after `heal`/`unclog` they
  leave again, in order, each with a fresh delay. A partition (not a clog) that holds a frame for
  `stall_timeout` breaks the connection, and both ends see `ConnectionBroken`.
- `crash(host)` breaks every connection of the host: the host's own ends fail at once, the peers
  receive what was already on the wire and then a reset. Its listeners are gone; connecting to it times
  out until `restart(host)`. `pause(host)` freezes the host's network calls until `resume(host)`;
  frames to it queue meanwhile and no connection breaks.
- A connect takes a round trip: `ConnectRefused` if nothing listens at the port, `ConnectTimeout` if
  the host is unknown, down, partitioned or clogged until the connect timeout.
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

import trio
from anyio.abc import AsyncResource
from trio.lowlevel import cancel_shielded_checkpoint, checkpoint_if_cancelled

from cosigner_ha.net._checks import check_frame_size, check_seconds
from cosigner_ha.net.address import join_address, split_address
from cosigner_ha.net.errors import (
    AddressInUse,
    ConnectRefused,
    ConnectTimeout,
    HostDown,
    InvalidAddress,
    ListenerClosed,
    NetError,
)
from cosigner_ha.net.link import LinkSpec, LinkStats
from cosigner_ha.net.sim_connection import SimConnection, SimStream
from cosigner_ha.net.sim_pipe import Signal
from cosigner_ha.wire.framing import MAX_FRAME_SIZE

if TYPE_CHECKING:
    from cosigner_ha.net.transport import Interrupt

__all__ = ["SimHost", "SimListener", "SimNetwork", "SimStream"]

_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EPHEMERAL_FIRST = 49152
_EPHEMERAL_LAST = 65535

HostGroup = str | Iterable[str]
_Pair = tuple[str, str]


class SimListener(AsyncResource):
    """Accepts connections to one port of a simulated host (see `Listener`)."""

    def __init__(self, host: SimHost, port: int) -> None:
        self._host = host
        self._port = port
        self._address = join_address(host.name, port)
        self._backlog: deque[SimStream] = deque()
        self._closed: str | None = None
        self._signal = Signal()

    def __repr__(self) -> str:
        return f"<SimListener {self._address}{' closed' if self._closed else ''}>"

    @property
    def address(self) -> str:
        return self._address

    async def accept(self) -> SimStream:
        await checkpoint_if_cancelled()
        while True:
            await self._host._wait_unpaused()
            if self._closed is not None:
                raise ListenerClosed(f"listener {self._address} {self._closed}")
            if self._backlog:
                stream = self._backlog.popleft()
                await cancel_shielded_checkpoint()
                return stream
            await self._signal.wait()

    async def aclose(self) -> None:
        self._shut("was closed")
        await cancel_shielded_checkpoint()

    def _shut(self, why: str) -> None:
        if self._closed is not None:
            return
        self._closed = why
        if self._host._listeners.get(self._port) is self:
            del self._host._listeners[self._port]
        while self._backlog:  # connections nobody accepted are reset, as a closing TCP listener does
            self._backlog.popleft()._abort_now()
        self._signal.fire()


class SimHost:
    """A host of a `SimNetwork`; as a `Network`, it connects from and listens on this host."""

    def __init__(self, net: SimNetwork, name: str) -> None:
        self._net = net
        self._name = name
        self._up = True
        self._paused = 0
        self._listeners: dict[int, SimListener] = {}
        self._connections: dict[int, SimConnection] = {}  # insertion order, for deterministic faults
        self._next_port = _EPHEMERAL_FIRST
        self._signal = Signal()

    def __repr__(self) -> str:
        state = "up" if self._up else "down"
        return f"<SimHost {self._name} {state}{' paused' if self._paused else ''}>"

    @property
    def name(self) -> str:
        return self._name

    @property
    def network(self) -> SimNetwork:
        return self._net

    @property
    def is_up(self) -> bool:
        return self._up

    @property
    def is_paused(self) -> bool:
        return self._paused > 0

    @property
    def open_connections(self) -> int:
        """Connections of this host that a fault can still affect (both ends closed: forgotten)."""
        return len(self._connections)

    async def _wait_unpaused(self, deadline: float = math.inf, interrupt: Interrupt | None = None) -> None:
        """Until the host is resumed (or crashes), `deadline` passes or `interrupt` is set (it may still be
        paused then)."""
        while self._paused and self._up and trio.current_time() < deadline:
            if interrupt is not None and interrupt.is_set():
                return
            await self._signal.wait(deadline, interrupt=interrupt)

    def _free_port(self) -> int:
        span = _EPHEMERAL_LAST - _EPHEMERAL_FIRST + 1
        for _ in range(span):
            port = self._next_port
            self._next_port = _EPHEMERAL_FIRST + (port + 1 - _EPHEMERAL_FIRST) % span
            if port not in self._listeners:
                return port
        raise NetError(f"host {self._name} has no free port left")  # pragma: no cover - 16k listeners

    async def listen(self, address: str) -> SimListener:
        await checkpoint_if_cancelled()
        name, port = split_address(address)
        if name != self._name:
            raise InvalidAddress(
                f"host {self._name} can only listen on its own name, like '{self._name}:{port}'; "
                f"got {address!r}"
            )
        await self._wait_unpaused()
        if not self._up:
            raise HostDown(f"host {self._name} is down; it cannot listen on {address}")
        if port == 0:
            port = self._free_port()
        if port in self._listeners:
            raise AddressInUse(f"{join_address(self._name, port)} is already in use by another listener")
        listener = SimListener(self, port)
        self._listeners[port] = listener
        await cancel_shielded_checkpoint()
        return listener

    async def connect(self, address: str, *, timeout: float | None = None) -> SimStream:
        await checkpoint_if_cancelled()
        name, port = split_address(address)
        if port == 0:
            raise InvalidAddress(f"address {address!r}: cannot connect to port 0")
        limit = self._net.connect_timeout if timeout is None else check_seconds("timeout", timeout)
        await self._wait_unpaused()
        if not self._up:
            raise HostDown(f"host {self._name} is down; it cannot connect to {address}")
        stream: SimStream | None = None
        with trio.CancelScope(deadline=trio.current_time() + limit):
            stream = await self._handshake(name, port, address)
        if stream is None:
            why = self._unreachable(name) or "the handshake did not finish in time over a slow or lossy link"
            raise ConnectTimeout(f"{self._name} -> {address}: no answer within {limit:g} s ({why})")
        return stream

    def _unreachable(self, name: str) -> str | None:
        net = self._net
        target = net._hosts.get(name)
        if target is None:
            return f"no host is named {name!r}"
        if not target._up:
            return f"{name} is down"
        for pair in ((self._name, name), (name, self._name)):
            if net._cuts.get(pair):
                return f"{pair[0]} is partitioned from {pair[1]}"
            if net._clogs.get(pair):
                return f"the link {pair[0]} -> {pair[1]} is clogged"
        return None

    async def _handshake(self, name: str, port: int, address: str) -> SimStream:
        net = self._net
        while True:
            await self._wait_unpaused()
            if not self._up:
                raise HostDown(f"host {self._name} crashed while connecting to {address}")
            if self._unreachable(name) is not None:
                await net._topology.wait()
                continue
            await trio.sleep(net._draw_delay(self._name, name))  # the SYN travels
            if not self._up:
                raise HostDown(f"host {self._name} crashed while connecting to {address}")
            if self._unreachable(name) is not None:
                continue  # lost on the way; try again once the path is back
            target = net._hosts[name]
            back = net._draw_delay(name, self._name)
            listener = target._listeners.get(port)
            if listener is None:
                await trio.sleep(back)
                raise ConnectRefused(f"{self._name} -> {address}: connection refused (nothing listens there)")
            conn = net._open(self, target, listener)
            try:
                await trio.sleep(back)  # the answer travels back
            except BaseException:
                conn.client._abort_now()
                raise
            if conn.client._state == "dead":
                raise HostDown(f"host {self._name} crashed while connecting to {address}")
            return conn.client


class SimNetwork:
    """Hosts and the links between them. Faults are plain methods: call them any time from any task.

    `rng` is this network's own random stream; `default_link` applies between any two distinct hosts
    until `set_link` says otherwise; a host's connections to itself use `loopback_link`.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        default_link: LinkSpec,
        loopback_link: LinkSpec | None = None,
        stall_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_frame_size: int = MAX_FRAME_SIZE,
    ) -> None:
        if not isinstance(rng, random.Random):
            raise TypeError(f"SimNetwork needs a random.Random for its draws, got {type(rng).__name__}")
        for name, spec in (("default_link", default_link), ("loopback_link", loopback_link)):
            if spec is not None and not isinstance(spec, LinkSpec):
                raise TypeError(f"SimNetwork {name} must be a LinkSpec, got {type(spec).__name__}")
        self._rng = rng
        self._default_link = default_link
        self._loopback_link = loopback_link if loopback_link is not None else LinkSpec()
        self.stall_timeout = check_seconds("stall_timeout", stall_timeout, positive=True)
        self.connect_timeout = check_seconds("connect_timeout", connect_timeout)
        self.max_frame_size = check_frame_size("max_frame_size", max_frame_size)
        self._hosts: dict[str, SimHost] = {}
        self._links: dict[_Pair, LinkSpec] = {}
        self._cuts: dict[_Pair, int] = {}
        self._cut_since: dict[_Pair, float] = {}
        self._clogs: dict[_Pair, int] = {}
        self._stats: dict[_Pair, LinkStats] = {}
        self._next_connection = 0
        self._topology = Signal()

    def __repr__(self) -> str:
        return f"<SimNetwork hosts={list(self._hosts)}>"

    # -- hosts ---------------------------------------------------------------------------------------------

    def host(self, name: str) -> SimHost:
        """The host called `name`, created on first use (letters, digits, `.`, `_`, `-`)."""
        host = self._hosts.get(name)
        if host is None:
            if not isinstance(name, str) or not _HOST_NAME.fullmatch(name):
                raise ValueError(
                    f"host name {name!r} is not valid: use letters, digits, '.', '_' and '-', "
                    "starting with a letter or digit"
                )
            host = self._hosts[name] = SimHost(self, name)
        return host

    @property
    def hosts(self) -> tuple[str, ...]:
        """Host names in the order they were created."""
        return tuple(self._hosts)

    def _existing(self, name: str) -> SimHost:
        host = self._hosts.get(name) if isinstance(name, str) else None
        if host is None:
            known = ", ".join(self._hosts) or "none yet"
            raise ValueError(f"no host is named {name!r}; known hosts: {known}")
        return host

    # -- faults --------------------------------------------------------------------------------------------

    def partition(self, a: HostGroup, b: HostGroup) -> None:
        """Cut every link between group `a` and group `b` (a host name or an iterable of them).

        Partitions nest: a pair stays cut until each `partition` covering it has been healed.
        """
        self._change_links("partition", a, b, self._cuts, +1)

    def heal(self, a: HostGroup, b: HostGroup) -> None:
        """Undo one `partition(a, b)`; held frames leave in order. Error if a pair is not partitioned."""
        self._change_links("heal", a, b, self._cuts, -1)

    def clog(self, a: HostGroup, b: HostGroup) -> None:
        """Hold every frame between `a` and `b` until `unclog`; unlike a partition, never breaks."""
        self._change_links("clog", a, b, self._clogs, +1)

    def unclog(self, a: HostGroup, b: HostGroup) -> None:
        """Undo one `clog(a, b)`: the held frames are delivered in order."""
        self._change_links("unclog", a, b, self._clogs, -1)

    def set_link(self, a: HostGroup, b: HostGroup, spec: LinkSpec) -> None:
        """Latency, jitter and loss between `a` and `b`, both ways, for frames sent from now on."""
        if not isinstance(spec, LinkSpec):
            raise TypeError(f"set_link needs a LinkSpec, got {type(spec).__name__}")
        for pair in self._pairs("set the link of", a, b):
            self._links[pair] = spec

    def link(self, a: str, b: str) -> LinkSpec:
        """The spec frames from `a` to `b` use now."""
        self._existing(a)
        self._existing(b)
        if a == b:
            return self._loopback_link
        return self._links.get((a, b), self._default_link)

    def crash(self, name: str) -> None:
        """Stop a host abruptly; see the module docstring. Crashing a host that is down does nothing."""
        host = self._existing(name)
        if not host._up:
            return
        now = trio.current_time()
        host._up = False
        for conn in list(host._connections.values()):
            for end in (conn.client, conn.server):
                if end._host is host and end._state == "open":
                    end._state = "dead"
                    conn.reset_from(end, now)
        for listener in list(host._listeners.values()):
            listener._shut(f"is gone: host {name} crashed")
        host._signal.fire()
        self._topology.fire()

    def restart(self, name: str) -> None:
        """Bring a crashed host back, with no listeners and no connections. No-op if it is up."""
        host = self._existing(name)
        if not host._up:
            host._up = True
            host._signal.fire()
            self._topology.fire()

    def pause(self, name: str) -> None:
        """Freeze the host's network calls (like SIGSTOP): they wait until `resume`. Pauses nest."""
        self._existing(name)._paused += 1

    def resume(self, name: str) -> None:
        """Undo one `pause`; error if the host is not paused."""
        host = self._existing(name)
        if not host._paused:
            raise ValueError(f"cannot resume host {name!r}: it is not paused")
        host._paused -= 1
        if not host._paused:
            host._signal.fire()
            self._topology.fire()

    # -- reports -------------------------------------------------------------------------------------------

    def link_stats(self) -> dict[tuple[str, str], LinkStats]:
        """Counters per direction `(from, to)`, sorted, as a snapshot."""
        return {pair: self._stats[pair].copy() for pair in sorted(self._stats)}

    # -- internals -----------------------------------------------------------------------------------------

    def _stats_for(self, src: str, dst: str) -> LinkStats:
        stats = self._stats.get((src, dst))
        if stats is None:
            stats = self._stats[(src, dst)] = LinkStats()
        return stats

    def _blocked(self, src: str, dst: str) -> bool:
        return bool(self._cuts.get((src, dst)) or self._clogs.get((src, dst)))

    def _draw_delay(self, src: str, dst: str) -> float:
        spec = self._loopback_link if src == dst else self._links.get((src, dst), self._default_link)
        delay, lost = spec.draw_delay(self._rng)
        if lost:
            self._stats_for(src, dst).retransmissions += lost
        return delay

    def _names(self, group: HostGroup, verb: str) -> list[str]:
        names = [group] if isinstance(group, str) else list(group)
        if not names:
            raise ValueError(f"cannot {verb} an empty group of hosts")
        for name in names:
            self._existing(name)
        return sorted(set(names))

    def _pairs(self, verb: str, a: HostGroup, b: HostGroup) -> list[_Pair]:
        left, right = self._names(a, verb), self._names(b, verb)
        both = sorted(set(left) & set(right))
        if both:
            raise ValueError(f"cannot {verb} a host from itself: {', '.join(both)} in both groups")
        return sorted({(x, y) for x in left for y in right} | {(y, x) for x in left for y in right})

    def _change_links(
        self, verb: str, a: HostGroup, b: HostGroup, counts: dict[_Pair, int], step: int
    ) -> None:
        pairs = self._pairs(verb, a, b)
        if step < 0:
            for src, dst in pairs:
                if not counts.get((src, dst)):
                    state = "partitioned" if counts is self._cuts else "clogged"
                    raise ValueError(f"cannot {verb} {src} -> {dst}: it is not {state}; nothing was changed")
        now = trio.current_time()
        for src, dst in pairs:
            conns = [conn for conn in self._connections_of(src) if conn.joins(dst)]
            for conn in conns:
                conn.settle(now)
            was_blocked = self._blocked(src, dst)
            count = counts.get((src, dst), 0) + step
            if count:
                counts[(src, dst)] = count
            else:
                del counts[(src, dst)]
            if counts is self._cuts:
                if count == 0:
                    del self._cut_since[(src, dst)]
                elif count == 1 and step > 0:
                    self._cut_since[(src, dst)] = now
            blocked = self._blocked(src, dst)
            for conn in conns:
                if blocked and not was_blocked:
                    conn.block(conn.pipe(src, dst), now)
                elif was_blocked and not blocked:
                    conn.unblock(conn.pipe(src, dst), now)
                conn.signal.fire()
        self._topology.fire()

    def _connections_of(self, name: str) -> list[SimConnection]:
        host = self._hosts.get(name)
        return list(host._connections.values()) if host is not None else []

    def _open(self, client: SimHost, server: SimHost, listener: SimListener) -> SimConnection:
        self._next_connection += 1
        conn = SimConnection(self, self._next_connection, client, client._free_port(), server, listener._port)
        client._connections[conn.id] = conn
        server._connections[conn.id] = conn
        listener._backlog.append(conn.server)
        listener._signal.fire()
        return conn

    def _retire_if_done(self, conn: SimConnection) -> None:
        """Forget a connection no fault can affect any more."""
        if conn.broken is not None or (conn.client._state != "open" and conn.server._state != "open"):
            for host in conn.hosts:
                host._connections.pop(conn.id, None)
