"""The node's side of wire protocol v1: one request, one response, over pooled connections.

A connection carries one request at a time (the protocol is HTTP-like), and a held request (a long
`Poll`, a `PairStatus` waiting for the owner) would block everything behind it, so each request takes an
idle connection from a small pool or opens a new one. A connection is thrown away, never reused, after
anything unusual: a timeout (a late answer would be taken for the next request's), a broken stream, a
frame that does not decode, or a token refusal (the SaaS closes those connections itself).
"""

from __future__ import annotations

import contextlib

from cosigner_ha.env import scopes
from cosigner_ha.net import ConnectionClosed, FramedStream, NetError, Network
from cosigner_ha.node.errors import SaasError, SaasUnreachable
from cosigner_ha.wire import Ack, CodecError, Error, Poll, Request, Response, decode, encode

MAX_IDLE = 4

#: Most answers are a bare `Ack`: its frame is always the same bytes, so it is recognised, not decoded.
_ACK = Ack()
_ACK_FRAME = encode(_ACK)


class SaasClient:
    def __init__(
        self, network: Network, address: str, *, connect_timeout: float = 10.0, request_timeout: float = 30.0
    ) -> None:
        self.network = network
        self.address = address
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._idle: list[FramedStream] = []
        self.requests = 0
        #: The last poll and its frame: a node polls with the same token and users until either changes.
        self._poll: tuple[Poll | None, bytes] = (None, b"")

    async def request(self, message: Request, *, timeout: float | None = None) -> Response:
        """The SaaS's response (an `Error` response included); `SaasUnreachable` when there is none."""
        stream = await self._stream()
        reusable = False
        try:
            payload = await stream.exchange(
                self._frame(message), self.request_timeout if timeout is None else timeout
            )
            if payload is None:
                raise SaasUnreachable(
                    f"no answer from the SaaS at {self.address} to {message.TYPE} within "
                    f"{self.request_timeout if timeout is None else timeout:g} s"
                )
            try:
                response = _ACK if payload == _ACK_FRAME else decode(payload)
            except CodecError as exc:
                raise SaasError(
                    f"the SaaS answered {message.TYPE} with an undecodable frame: {exc}"
                ) from None
            if not isinstance(response, Response):
                raise SaasError(f"the SaaS answered {message.TYPE} with a {response.TYPE!r}, not a response")
            self.requests += 1
            reusable = not (isinstance(response, Error) and response.code.startswith("TOKEN"))
            return response
        except (ConnectionClosed, NetError) as exc:
            raise SaasUnreachable(f"the connection to the SaaS at {self.address} ended: {exc}") from None
        finally:
            if reusable and len(self._idle) < MAX_IDLE:
                self._idle.append(stream)
            else:
                await _discard(stream)

    def _frame(self, message: Request) -> bytes:
        if type(message) is not Poll:
            return encode(message)
        if message != self._poll[0]:
            self._poll = (message, encode(message))
        return self._poll[1]

    async def _stream(self) -> FramedStream:
        if self._idle:
            return self._idle.pop()
        try:
            return await self.network.connect(self.address, timeout=self.connect_timeout)
        except NetError as exc:
            raise SaasUnreachable(f"cannot connect to the SaaS at {self.address}: {exc}") from None

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for stream in idle:
            await _discard(stream)


async def _discard(stream: FramedStream) -> None:
    with scopes.cancel_scope(shield=True), contextlib.suppress(Exception):  # already gone: nothing to release
        await stream.abort()
