"""What the sealed database holds, and its strict msgpack codec.

The database (`Secrets`) is everything a co-signer must keep: per API user the key share, the
configuration-change key, the refresh token and the callback settings; the node's transport key (key
shares arrive encrypted to it) and callback-signing RSA key; pairing requests still waiting for the
owner. The nonce ledger (`NonceLedger`) is kept in its own file, outside backups (see `database`).

Records are frozen dataclasses; the codec is derived from their type hints, so a field added here is
stored and checked without more code, and a file that does not match says which field is wrong.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar

import msgpack

from cosigner_ha.node.errors import DatabaseCorrupt

CallbackMode = Literal["none", "public_key", "certificate"]


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackSettings:
    """Where an API user's callback handler is and how the node authenticates it.

    No URL: no handler, every request is approved. `public_key` (the handler's RSA public key, PEM):
    JWT bodies both ways on `/v2/...` paths. `certificate` (PEM): plain JSON over TLS pinned to it, paths
    without `/v2`.
    """

    url: str = ""
    public_key: str = ""
    certificate: str = ""

    @property
    def mode(self) -> CallbackMode:
        if not self.url:
            return "none"
        return "certificate" if self.certificate else "public_key"


@dataclasses.dataclass(frozen=True, slots=True)
class UserRecord:
    """One paired API user."""

    api_user: str
    workspace_id: str
    identifier: int  # the node's FROST identifier in this API user's share set
    key_package: bytes
    public_package: bytes
    group_public_key: bytes
    config_key: bytes  # Ed25519 private key that signs configuration-change approvals
    refresh_token: str
    callback: CallbackSettings
    paired_at: float  # POSIX seconds
    ledger_epoch: int  # the nonce-ledger epoch when the share arrived


@dataclasses.dataclass(frozen=True, slots=True)
class PendingPairing:
    """A pairing request the owner has not decided yet; survives restarts."""

    request_id: str
    pairing_token: str
    config_key: bytes
    callback: CallbackSettings
    requested_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class PendingUpdate:
    """A callback-handler change waiting for the owner's approval."""

    request_id: str
    api_user: str
    callback: CallbackSettings
    requested_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class Secrets:
    """The sealed database of one co-signer."""

    cosigner_id: str
    cosigner_type: str
    transport_key: bytes  # X25519 private key: key-share contributions are sealed to its public half
    callback_key: bytes  # RSA private key (PKCS#8 DER) that signs callback requests
    users: tuple[UserRecord, ...] = ()
    pending: tuple[PendingPairing, ...] = ()
    updates: tuple[PendingUpdate, ...] = ()

    def user(self, api_user: str) -> UserRecord | None:
        return next((u for u in self.users if u.api_user == api_user), None)

    @property
    def workspaces(self) -> list[str]:
        """Workspaces served, in pairing order."""
        seen: list[str] = []
        for u in self.users:
            if u.workspace_id not in seen:
                seen.append(u.workspace_id)
        return seen


@dataclasses.dataclass(frozen=True, slots=True)
class NonceLedger:
    """Which signing nonces are spent, and the boot epoch that keeps fresh nonces from repeating.

    `consumed` holds the ids of nonce pairs whose signature share was (or may have been) released.
    `tainted` lists API users whose shares the node will not sign with until they are re-paired: set
    when the ledger had to be recreated while the database existed (consumption history unknown).
    """

    cosigner_id: str
    epoch: int = 0
    consumed: tuple[bytes, ...] = ()
    tainted: tuple[str, ...] = ()


R = TypeVar("R")


#: Values `to_plain` returns as they are. The nonce ledger is a tuple of every id a node spent (tens of
#: thousands after a day), written again at every fold: its ids are taken as they are, not one call each.
_PLAIN_TYPES = frozenset({bytes, str, int, float, bool, type(None)})


def to_plain(record: Any) -> Any:
    if type(record) in _PLAIN_TYPES:
        return record
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_plain(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, tuple | list):
        plain = _PLAIN_TYPES
        return [v if type(v) in plain else to_plain(v) for v in record]
    return record


def _check(hint: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return from_plain(hint, value, path)
    if origin is tuple:
        if not isinstance(value, list):
            raise DatabaseCorrupt(f"{path}: expected a list, got {type(value).__name__}")
        return tuple(_check(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check(inner[0], value, path)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int, float, bool, bytes):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise DatabaseCorrupt(f"{path}: expected {hint.__name__}, got {type(value).__name__}")
        return value
    raise TypeError(f"{path}: unsupported record field type {hint!r}")  # a programming error


def from_plain(cls: type[R], value: Any, path: str = "") -> R:
    """Build `cls` from plain data; `DatabaseCorrupt` naming the field path (`users[0].identifier`)."""
    if not isinstance(value, dict):
        raise DatabaseCorrupt(f"{path or 'record'}: expected a map, got {type(value).__name__}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = {f.name for f in fields}
    unknown = sorted(str(k) for k in value if k not in names)
    if unknown:
        raise DatabaseCorrupt(f"{path or 'record'}: unknown field(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for f in fields:
        if f.name in value:
            kwargs[f.name] = _check(hints[f.name], value[f.name], f"{path}.{f.name}" if path else f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DatabaseCorrupt(f"{path or 'record'}: missing field {f.name}")
    return cls(**kwargs)


def encode_record(record: Any) -> bytes:
    data: bytes = msgpack.packb(to_plain(record), use_bin_type=True)
    return data


def decode_record(cls: type[R], data: bytes, *, where: str) -> R:
    try:
        plain = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise DatabaseCorrupt(f"{where}: contents are not a msgpack record: {exc}") from None
    try:
        return from_plain(cls, plain)
    except DatabaseCorrupt as exc:
        raise DatabaseCorrupt(f"{where}: {exc}") from None
