"""One error hierarchy for both transports, rooted at `NetError`.

Callers catch `ConnectionClosed` for "this connection is over" and look at `ConnectionBroken` only when
they care that it ended abruptly (peer crash, reset, partition outlasting the stall timeout, a peer that
broke the framing rules). Every message names the addresses involved.
"""

from __future__ import annotations

from cosigner_ha.wire.errors import FrameTooLarge as _WireFrameTooLarge


class NetError(Exception):
    """Anything a transport raises."""


class ConnectionClosed(NetError):
    """The connection is over: the peer closed it, this end closed it, or it broke."""


class ConnectionBroken(ConnectionClosed):
    """The connection ended abruptly: crash, reset, stall timeout or a framing violation by the peer."""


class ConnectError(NetError):
    """A connection could not be opened."""


class ConnectTimeout(ConnectError):
    """Nobody answered the connection attempt in time (host down, unknown, or unreachable)."""


class ConnectRefused(ConnectError):
    """The host answered, but nothing listens on that port."""


class TlsHandshakeFailed(ConnectError):
    """The TLS handshake failed (certificate not trusted, wrong name, protocol mismatch)."""


class ListenerClosed(NetError):
    """`accept()` on a listener that was closed, or whose host crashed."""


class AddressInUse(NetError):
    """`listen()` on an address another listener holds."""


class HostDown(NetError):
    """An operation started on a simulated host that has crashed."""


class InvalidAddress(NetError, ValueError):
    """An address that is not `host:port`; the message says what was wrong with it."""


class FrameTooLarge(NetError, _WireFrameTooLarge):
    """A frame above the maximum size: refused before sending, or announced by a misbehaving peer.

    It is also the wire's `FrameTooLarge`, so code catching codec errors catches it too.
    """
