"""Transports with one interface: the simulated network and TCP/TLS. Imports only `wire` and `env`'s timer
and scopes."""

from cosigner_ha.net.address import join_address, option_address, split_address
from cosigner_ha.net.errors import (
    AddressInUse,
    ConnectError,
    ConnectionBroken,
    ConnectionClosed,
    ConnectRefused,
    ConnectTimeout,
    FrameTooLarge,
    HostDown,
    InvalidAddress,
    ListenerClosed,
    NetError,
    TlsHandshakeFailed,
)
from cosigner_ha.net.link import LinkSpec, LinkStats
from cosigner_ha.net.sim import SimHost, SimListener, SimNetwork, SimStream
from cosigner_ha.net.tcp import TcpListener, TcpNetwork, TcpStream
from cosigner_ha.net.transport import FramedStream, Interrupt, Listener, Network, serve

__all__ = [
    "AddressInUse",
    "ConnectError",
    "ConnectRefused",
    "ConnectTimeout",
    "ConnectionBroken",
    "ConnectionClosed",
    "FrameTooLarge",
    "FramedStream",
    "HostDown",
    "Interrupt",
    "InvalidAddress",
    "LinkSpec",
    "LinkStats",
    "Listener",
    "ListenerClosed",
    "NetError",
    "Network",
    "SimHost",
    "SimListener",
    "SimNetwork",
    "SimStream",
    "TcpListener",
    "TcpNetwork",
    "TcpStream",
    "TlsHandshakeFailed",
    "join_address",
    "option_address",
    "serve",
    "split_address",
]
