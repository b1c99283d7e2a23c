"""`host:port` addresses, the one spelling both transports use (IPv6 hosts in brackets: `[::1]:443`)."""

from __future__ import annotations

from cosigner_ha.net.errors import InvalidAddress


def split_address(address: str) -> tuple[str, int]:
    """`"host:port"` -> `("host", port)`, or `InvalidAddress` saying what is wrong with it."""
    if not isinstance(address, str):
        raise InvalidAddress(f"address must be a 'host:port' string, got {type(address).__name__}")
    host, colon, port_text = address.rpartition(":")
    if not colon:
        raise InvalidAddress(f"address {address!r} has no port: expected 'host:port'")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise InvalidAddress(f"address {address!r}: an IPv6 host must be in brackets, like '[::1]:443'")
    if not host:
        raise InvalidAddress(f"address {address!r} has no host: expected 'host:port'")
    if not port_text.isascii() or not port_text.isdigit():
        raise InvalidAddress(f"address {address!r}: port {port_text!r} is not a number from 0 to 65535")
    port = int(port_text)
    if port > 65535:
        raise InvalidAddress(f"address {address!r}: port {port} is above 65535")
    return host, port


def option_address(option: str, address: str) -> tuple[str, int]:
    """A command-line HOST:PORT option: `split_address`, its refusal naming the option."""
    try:
        return split_address(address)
    except InvalidAddress as exc:
        raise InvalidAddress(f"{option}: {exc}; expected HOST:PORT, such as 127.0.0.1:8443") from None


def join_address(host: str, port: int) -> str:
    """The inverse of `split_address`."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
