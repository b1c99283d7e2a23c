"""A fault-injecting TCP proxy on anyio: the runtime's network faults on one link.

The runtime cannot reach into the kernel's TCP, so every link (SaaS to node, node to handler, node to
cloud services) goes through one of these. It forwards bytes unchanged (TLS passes through end to end)
and applies the faults the simulated network knows:

- partition: live connections are cut and new ones are closed at once, so both ends see a broken
  connection, as a peer behind a partition eventually does;
- latency: every chunk is delivered `seconds` plus a uniform draw in [0, `jitter`] after it was read, and
  never before the chunk read before it on that direction: a chunk is due at `max(previous due, now +
  latency + U(0, jitter))`, as the simulated network's frames are (`LinkSpec.draw_delay`, `SimConnection.
  enqueue`), so jitter spreads delays without reordering bytes and throughput is not limited;
- loss: each chunk is lost with the given probability; TCP cannot skip bytes, so a lost chunk resets
  its connection (the peer's framing would otherwise misread everything after it);
- clogging: bytes are held, connections stay open, until the link is unclogged or healed;
- heal: every fault is cleared.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import anyio
from anyio.abc import ObjectReceiveStream, SocketAttribute, SocketStream, TaskStatus

from cosigner_ha.net._checks import check_seconds
from cosigner_ha.net.link import LinkSpec

__all__ = ["FaultProxy", "LinkFaults"]

_CHUNK = 65536


@dataclass
class LinkFaults:
    """The faults in force on one proxied link."""

    partitioned: bool = False
    latency: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    clogged: bool = False


@dataclass(eq=False)
class _Connection:
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class FaultProxy:
    """Listens on `listen_host` (port chosen by the system unless given) and forwards to `target`."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        seed: int | None = None,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.faults = LinkFaults()
        self._delay = LinkSpec()  # latency and jitter, drawn as the simulated network draws them
        self._random = random.Random(seed)
        self._connections: set[_Connection] = set()
        self._unclogged = anyio.Event()
        self._unclogged.set()

    # -- fault controls -------------------------------------------------------------------------

    def partition(self) -> None:
        self.faults.partitioned = True
        for connection in list(self._connections):
            connection.scope.cancel()

    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        """Each chunk from now on takes `seconds` plus a uniform draw in [0, `jitter`] (chunks in flight
        keep their due time, as frames on the simulated network do when its link changes)."""
        latency, jitter = check_seconds("latency", seconds), check_seconds("jitter", jitter)
        self.faults.latency, self.faults.jitter = latency, jitter
        self._delay = LinkSpec(latency=latency, jitter=jitter)

    def set_loss(self, probability: float) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"loss must be a probability between 0 and 1, got {probability!r}")
        self.faults.loss = probability

    def clog(self) -> None:
        self.faults.clogged = True
        if self._unclogged.is_set():
            self._unclogged = anyio.Event()

    def unclog(self) -> None:
        self.faults.clogged = False
        self._unclogged.set()

    def heal(self) -> None:
        self.faults = LinkFaults()
        self._delay = LinkSpec()
        self._unclogged.set()

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    # -- serving --------------------------------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serves until cancelled; reports the bound port through `task_status`."""
        listener = await anyio.create_tcp_listener(local_host=self.listen_host, local_port=self.listen_port)
        async with listener:
            sockname = listener.extra(SocketAttribute.local_address)
            assert isinstance(sockname, tuple)
            self.listen_port = int(sockname[1])
            task_status.started(self.listen_port)
            await listener.serve(self._handle)

    async def _handle(self, client: SocketStream) -> None:
        async with client:
            if self.faults.partitioned:
                return
            try:
                upstream = await anyio.connect_tcp(self.target_host, self.target_port)
            except OSError:
                return
            connection = _Connection()
            self._connections.add(connection)
            try:
                async with upstream:
                    with connection.scope:
                        async with anyio.create_task_group() as group:
                            group.start_soon(self._pipe, client, upstream, connection)
                            group.start_soon(self._pipe, upstream, client, connection)
            finally:
                self._connections.discard(connection)

    async def _pipe(self, source: SocketStream, sink: SocketStream, connection: _Connection) -> None:
        send, receive = anyio.create_memory_object_stream[tuple[float, bytes]](math.inf)
        last_due = 0.0  # this direction's chunks leave in the order they came: FIFO
        async with anyio.create_task_group() as group:
            group.start_soon(self._deliver, receive, sink, connection)
            async with send:
                while True:
                    try:
                        data = await source.receive(_CHUNK)
                    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                        break
                    if self.faults.loss and self._random.random() < self.faults.loss:
                        connection.scope.cancel()
                        return
                    delay, _ = self._delay.draw_delay(self._random)
                    last_due = max(last_due, anyio.current_time() + delay)
                    await send.send((last_due, data))

    async def _deliver(
        self, receive: ObjectReceiveStream[tuple[float, bytes]], sink: SocketStream, connection: _Connection
    ) -> None:
        async with receive:
            async for deliver_at, data in receive:
                await anyio.sleep_until(deliver_at)
                while self.faults.clogged:
                    await self._unclogged.wait()
                try:
                    await sink.send(data)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    connection.scope.cancel()
                    return
        # the source ended: half-close so the peer sees end of stream
        try:
            await sink.send_eof()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            connection.scope.cancel()
