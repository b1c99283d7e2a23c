"""One simulated connection: both of its ends (`SimStream`, the transport interface's stream) and the rules
that move frames from sender to reader in the event loop's time (`sim.py` tells the semantics)."""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import trio
from anyio.abc import AsyncResource
from trio.lowlevel import cancel_shielded_checkpoint, checkpoint_if_cancelled

from cosigner_ha.net._checks import frame_bytes
from cosigner_ha.net.address import join_address
from cosigner_ha.net.errors import ConnectionBroken, ConnectionClosed, FrameTooLarge
from cosigner_ha.net.sim_pipe import End, Item, Pipe, Signal
from cosigner_ha.sleeper import now as _now

if TYPE_CHECKING:
    from cosigner_ha.net.sim import SimHost, SimNetwork
    from cosigner_ha.net.transport import Interrupt


class SimConnection:
    """Both ends and both directions of one connection, and the rules that move frames along."""

    def __init__(
        self, net: SimNetwork, cid: int, client: SimHost, client_port: int, server: SimHost, server_port: int
    ) -> None:
        self.net = net
        self.id = cid
        self.hosts = (client, server)
        up = Pipe(client.name, server.name, net._stats_for(client.name, server.name))
        down = Pipe(server.name, client.name, net._stats_for(server.name, client.name))
        self.pipes = (up, down)
        client_address = join_address(client.name, client_port)
        server_address = join_address(server.name, server_port)
        self.client = SimStream(
            self, client, inbound=down, outbound=up, local=client_address, peer=server_address
        )
        self.server = SimStream(
            self, server, inbound=up, outbound=down, local=server_address, peer=client_address
        )
        self.broken: str | None = None
        self.signal = Signal()

    def __repr__(self) -> str:
        return f"<connection {self.client.local} <-> {self.server.local}>"

    def joins(self, name: str) -> bool:
        return name in (self.hosts[0].name, self.hosts[1].name)

    def pipe(self, src: str, dst: str) -> Pipe:
        up, down = self.pipes
        return up if (up.src, up.dst) == (src, dst) else down

    def reader_of(self, pipe: Pipe) -> SimStream:
        return self.server if pipe is self.pipes[0] else self.client

    # -- moving time forward -------------------------------------------------------------------------

    def stall_deadline(self) -> float:
        """When a partition will have held a frame for `stall_timeout` (inf: no frame is held by one)."""
        deadline = math.inf
        for pipe in self.pipes:
            if pipe.held:
                cut_since = self.net._cut_since.get((pipe.src, pipe.dst))
                if cut_since is not None:
                    deadline = min(deadline, max(pipe.held[0][0], cut_since) + self.net.stall_timeout)
        return deadline

    def settle(self, now: float) -> None:
        """Deliver every frame due by `now`, and break the connection if a stall deadline passed."""
        if self.broken is not None:
            return
        up, down = self.pipes
        deadline = self.stall_deadline() if up.held or down.held else math.inf  # held: only during faults
        horizon = min(now, deadline)
        for pipe in self.pipes:
            flight = pipe.in_flight
            while flight and flight[0][0] <= horizon:
                _, item = flight.popleft()
                self._arrive(pipe, item)
        if deadline <= now:
            self.fail(
                f"connection {self.client.local} <-> {self.server.local} broke: a frame was held by a "
                f"partition for {self.net.stall_timeout:g} s (the stall timeout)"
            )

    def _arrive(self, pipe: Pipe, item: Item) -> None:
        reader = self.reader_of(pipe)
        if reader._state != "open":
            pipe._count_drop(item)
            return
        if isinstance(item, bytes):
            pipe.stats.frames_delivered += 1
            pipe.stats.bytes_delivered += len(item)
        else:
            reader._peer_end = item
        pipe.ready.append(item)

    def next_wake(self, pipe: Pipe) -> float:
        due = pipe.in_flight[0][0] if pipe.in_flight else math.inf
        up, down = self.pipes
        return min(due, self.stall_deadline()) if up.held or down.held else due

    # -- sending and faults ----------------------------------------------------------------------------

    def enqueue(self, pipe: Pipe, item: Item, now: float) -> None:
        """Put `item` on the wire, or hold it if the link is blocked; wake whoever must re-plan."""
        net = self.net
        if (net._cuts or net._clogs) and net._blocked(pipe.src, pipe.dst):
            pipe.held.append((now, item))
            self.signal.fire()  # a new stall deadline for both ends
        else:
            due = max(pipe.last_due, now + net._draw_delay(pipe.src, pipe.dst))
            pipe.last_due = due
            pipe.in_flight.append((due, item))
            for sleeper in pipe.waiters:  # cheaper than waking the reader only to sleep again
                if due < sleeper.deadline:
                    sleeper.deadline = due

    def block(self, pipe: Pipe, now: float) -> None:
        """The link just closed: what was on the wire is held with anything sent later."""
        if pipe.in_flight:
            pipe.held.extendleft((now, item) for _, item in reversed(pipe.in_flight))
            pipe.in_flight.clear()

    def unblock(self, pipe: Pipe, now: float) -> None:
        """The link just opened: held frames leave in order, each with a fresh delay."""
        held = pipe.held
        pipe.held = deque()
        for _, item in held:
            self.enqueue(pipe, item, now)

    def reset_from(self, end: SimStream, now: float) -> None:
        """`end` vanished abruptly (abort or crash): drop what it had and send the peer a reset."""
        self.settle(now)
        if self.broken is None:
            end._inbound.drop_all()
            end._outbound.drop_held()
            self.enqueue(end._outbound, End.RESET, now)
        self.signal.fire()
        self.net._retire_if_done(self)

    def fail(self, reason: str) -> None:
        """Break the connection: both ends see `ConnectionBroken` once they read what had arrived."""
        self.broken = reason
        for pipe in self.pipes:
            for _, item in pipe.in_flight:
                pipe._count_drop(item)
            pipe.in_flight.clear()
            pipe.drop_held()
        self.signal.fire()
        self.net._retire_if_done(self)


class SimStream(AsyncResource):
    """One end of a simulated connection (see `FramedStream`)."""

    def __init__(
        self, conn: SimConnection, host: SimHost, *, inbound: Pipe, outbound: Pipe, local: str, peer: str
    ) -> None:
        self._conn = conn
        self._host = host
        self._inbound = inbound
        self._outbound = outbound
        self._local = local
        self._peer = peer
        self._state = "open"  # "open", "closed" (aclose/abort here) or "dead" (host crashed)
        self._peer_end: End | None = None

    def __repr__(self) -> str:
        return f"<SimStream {self._local} -> {self._peer} {self._state}>"

    @property
    def local(self) -> str:
        return self._local

    @property
    def peer(self) -> str:
        return self._peer

    @property
    def host(self) -> SimHost:
        return self._host

    def _raise_if_over(self) -> None:
        if self._state == "closed":
            raise ConnectionClosed(f"{self._local} -> {self._peer}: this stream was closed")
        if self._state == "dead":
            raise ConnectionBroken(f"{self._local} -> {self._peer}: host {self._host.name} crashed")

    def _raise_peer_end(self, end: End) -> None:
        if end is End.RESET:
            raise ConnectionBroken(f"{self._local}: {self._peer} reset the connection")
        raise ConnectionClosed(f"{self._local}: {self._peer} closed the connection")

    async def send(self, frame: bytes) -> None:
        await self._send(frame, math.inf)

    async def receive(self) -> bytes:
        frame = await self._receive(math.inf)
        assert frame is not None  # no deadline: only a frame or an error ends the wait
        return frame

    async def exchange(self, frame: bytes, timeout: float) -> bytes | None:
        """`send` then `receive` within `timeout` seconds, without a cancel scope: the deadline is the
        wake-up time the receiver parks on anyway (the head frame's due time, or the deadline if that is
        sooner), and a wait that reaches it returns None. Woken at the deadline, the wait ends there, as
        a scope's cancellation would end it; what arrives later stays unread, as after a cancelled
        `receive`. A deadline not after now takes the scope path (cancelled at once, nothing sent)."""
        now = _now()
        deadline = now + timeout
        if not deadline > now:  # zero, negative, or too small to move the clock's float
            with trio.move_on_after(0):
                await self.send(frame)
                return await self.receive()
            return None
        if not await self._send(frame, deadline):
            return None
        return await self._receive(deadline)

    async def receive_unless(self, interrupt: Interrupt, timeout: float) -> bytes | None:
        """`receive` until `interrupt` is set or `timeout` passes, without a cancel scope: the wait parks
        on a sleeper due at the deadline, which `interrupt` wakes. Set, it ends the wait as a scope
        cancelled then would: whatever arrived at that instant stays unread. A deadline not after now
        takes the scope path (cancelled at once)."""
        now = _now()
        deadline = now + timeout
        if not deadline > now:
            with trio.move_on_after(0):
                return await self.receive()
            return None
        return await self._receive(deadline, interrupt)

    async def _send(self, frame: bytes, deadline: float) -> bool:
        """Queue `frame`; False (nothing sent) if the host was paused until `deadline`."""
        await checkpoint_if_cancelled()
        data = frame if type(frame) is bytes else frame_bytes(frame)
        limit = self._conn.net.max_frame_size
        if len(data) > limit:
            raise FrameTooLarge(
                f"{self._local} -> {self._peer}: frame of {len(data)} bytes exceeds the maximum of {limit} "
                "bytes; nothing was sent"
            )
        host = self._host
        if host._paused:
            await host._wait_unpaused(deadline)
            if _reached(deadline):
                return False  # as a scope's deadline, which wins over a resume at the same instant
        conn = self._conn
        now = _now()
        conn.settle(now)
        self._raise_if_over()
        if conn.broken is not None:
            raise ConnectionBroken(conn.broken)
        if self._peer_end is not None:
            self._raise_peer_end(self._peer_end)
        stats = self._outbound.stats
        stats.frames_sent += 1
        stats.bytes_sent += len(data)
        conn.enqueue(self._outbound, data, now)
        # No schedule point after queueing: a frame costs no CPU in simulated time and the sender usually
        # goes on to `receive` the answer, which sleeps. A yield here was a quarter of all task steps.
        return True

    async def _receive(self, deadline: float, interrupt: Interrupt | None = None) -> bytes | None:
        """The next frame, or None once `deadline` passes or `interrupt` is set first."""
        await checkpoint_if_cancelled()
        conn = self._conn
        inbound = self._inbound
        ready = inbound.ready
        slept = False
        host = self._host
        while True:
            if host._paused:
                await host._wait_unpaused(deadline, interrupt)
                if _ended(deadline, interrupt):
                    return None
            conn.settle(_now())
            self._raise_if_over()
            if ready:
                head = ready[0]
                if isinstance(head, bytes):
                    ready.popleft()
                    if not slept:  # a call that blocked was a schedule point already (as trio's channels)
                        await cancel_shielded_checkpoint()
                    return head
                self._raise_peer_end(head)
            if conn.broken is not None:
                raise ConnectionBroken(conn.broken)
            wake = conn.next_wake(inbound)
            await conn.signal.wait(wake if wake < deadline else deadline, inbound.waiters, interrupt)
            slept = True
            if _ended(deadline, interrupt):
                return None

    async def aclose(self) -> None:
        if self._state == "open":
            self._state = "closed"
            conn = self._conn
            now = _now()
            conn.settle(now)
            self._inbound.drop_all()
            if conn.broken is None:
                conn.enqueue(self._outbound, End.CLOSE, now)
            conn.signal.fire()
            conn.net._retire_if_done(conn)
        await cancel_shielded_checkpoint()

    async def abort(self) -> None:
        self._abort_now()
        await cancel_shielded_checkpoint()

    def _abort_now(self) -> None:
        if self._state == "open":
            self._state = "closed"
            self._conn.reset_from(self, _now())


def _reached(deadline: float) -> bool:
    """Whether a wait's deadline (`inf`: none) has come: it ends the wait as a scope's would."""
    return deadline != math.inf and _now() >= deadline


def _ended(deadline: float, interrupt: Interrupt | None) -> bool:
    """Whether a receive's wait is over without a frame: its deadline came or its interrupt was set."""
    return _reached(deadline) or (interrupt is not None and interrupt.is_set())
