"""Strict decoding helpers shared by every type's `from_dict` / `from_bytes`.

Dicts hold only ints, bytes, strings and lists of those, so msgpack (with its default `strict_map_key`)
and JSON-with-hex carry them unchanged. Decoding refuses anything unexpected: a missing or extra key, a
bool where an int belongs, a bytearray where bytes belong, a wrong length, a value out of range.
Binary encodings start with a version byte and a kind byte, so that handing one type's bytes to another
type's decoder fails with a message naming both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .ed25519 import ELEMENT_SIZE, L, scalar_from_bytes, validate_element
from .errors import DecodeError, InvalidIdentifierError, ThresholdError

FORMAT_VERSION = 1

KIND_NAMES = {
    1: "KeyPackage",
    2: "PublicKeyPackage",
    3: "SigningCommitments",
    4: "SignatureShare",
    5: "SigningNonces",
    6: "SigningPackage",
}
KIND_OF = {name: kind for kind, name in KIND_NAMES.items()}


def header(type_name: str) -> bytes:
    return bytes((FORMAT_VERSION, KIND_OF[type_name]))


def strip_header(data: object, type_name: str, *, min_body: int, exact: bool) -> bytes:
    """Check version and kind; return the body, checking its length (exactly or at least `min_body`)."""
    if not isinstance(data, bytes):
        raise DecodeError(f"{type_name}.from_bytes expects bytes, got {type(data).__name__}")
    if len(data) < 2:
        raise DecodeError(f"{type_name}: {len(data)} bytes is too short for the 2-byte header")
    version, kind = data[0], data[1]
    if version != FORMAT_VERSION:
        raise DecodeError(f"{type_name}: unknown format version {version} (this code reads {FORMAT_VERSION})")
    if kind != KIND_OF[type_name]:
        what = KIND_NAMES.get(kind, f"unknown kind {kind}")
        raise DecodeError(f"{type_name}: these bytes encode a {what}, not a {type_name}")
    body = data[2:]
    if (exact and len(body) != min_body) or len(body) < min_body:
        expected = f"{min_body}" if exact else f"at least {min_body}"
        raise DecodeError(f"{type_name}: body is {len(body)} bytes, expected {expected}")
    return body


def expect_dict(data: object, type_name: str, keys: Sequence[str]) -> Mapping[str, Any]:
    """`data` must be a dict with exactly `keys`."""
    if not isinstance(data, Mapping):
        raise DecodeError(f"{type_name}.from_dict expects a dict, got {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    extra = sorted(repr(k) for k in data if k not in keys)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        raise DecodeError(f"{type_name}: {'; '.join(parts)} (expected keys: {', '.join(keys)})")
    return data


def get_int(data: Mapping[str, Any], key: str, type_name: str, *, participant: int | None = None) -> int:
    value = data[key]
    if type(value) is not int:
        raise DecodeError(
            f"expected an int, got {type(value).__name__}",
            participant=participant,
            field=f"{type_name}.{key}",
        )
    return value


def get_bytes(
    data: Mapping[str, Any],
    key: str,
    type_name: str,
    *,
    size: int | None = None,
    participant: int | None = None,
) -> bytes:
    value = data[key]
    if type(value) is not bytes:
        raise DecodeError(
            f"expected bytes, got {type(value).__name__}", participant=participant, field=f"{type_name}.{key}"
        )
    if size is not None and len(value) != size:
        raise DecodeError(
            f"expected {size} bytes, got {len(value)}", participant=participant, field=f"{type_name}.{key}"
        )
    return value


def get_list(
    data: Mapping[str, Any], key: str, type_name: str, *, participant: int | None = None
) -> list[Any]:
    value = data[key]
    if not isinstance(value, list | tuple):
        raise DecodeError(
            f"expected a list, got {type(value).__name__}",
            participant=participant,
            field=f"{type_name}.{key}",
        )
    return list(value)


def element_shape(value: object, *, field: str, participant: int | None = None) -> bytes:
    """A value that must be 32 bytes (validated as a group element by the caller)."""
    if type(value) is not bytes or len(value) != ELEMENT_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise DecodeError(f"expected {ELEMENT_SIZE} bytes, got {got}", participant=participant, field=field)
    return value


def element_list(data: Mapping[str, Any], key: str, type_name: str, *, participant: int) -> tuple[bytes, ...]:
    """A list of valid group elements (a Feldman commitment)."""
    elements = []
    for index, value in enumerate(get_list(data, key, type_name, participant=participant)):
        where = f"{type_name}.{key}[{index}]"
        elements.append(
            validate_element(
                element_shape(value, field=where, participant=participant),
                field=where,
                participant=participant,
            )
        )
    return tuple(elements)


def get_scalar(data: Mapping[str, Any], key: str, type_name: str, *, participant: int | None = None) -> int:
    raw = get_bytes(data, key, type_name, size=32, participant=participant)
    return scalar_from_bytes(raw, field=f"{type_name}.{key}", participant=participant)


def check_identifier(value: object, *, field: str) -> int:
    """Identifiers are ints in [1, L): RFC 9591 identifiers are nonzero scalars."""
    if type(value) is not int:
        raise InvalidIdentifierError(
            f"an identifier is an int, got {type(value).__name__} {value!r}", field=field
        )
    if not 1 <= value < L:
        raise InvalidIdentifierError(f"an identifier lies in [1, L), got {value}", field=field)
    return value


def identifier_from_bytes(raw: bytes, *, field: str) -> int:
    return check_identifier(scalar_from_bytes(raw, field=field), field=field)


def check_threshold(min_signers: object, max_signers: int, *, field: str = "min_signers") -> int:
    """2 <= min_signers <= max_signers: a 1-of-n key would hand every holder the whole key."""
    if type(min_signers) is not int:
        raise ThresholdError(f"the threshold is an int, got {type(min_signers).__name__}", field=field)
    if not 2 <= min_signers <= max_signers:
        raise ThresholdError(
            f"the threshold must lie in [2, {max_signers}] for {max_signers} participants, got {min_signers}",
            field=field,
        )
    return min_signers


def u16(value: int, *, field: str) -> bytes:
    if not 0 <= value < 1 << 16:
        raise DecodeError(f"{value} does not fit the 16-bit field", field=field)
    return value.to_bytes(2, "big")
