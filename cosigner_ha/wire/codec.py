"""msgpack encoding of messages, with strict decoding: a `CodecError` or a valid message, nothing else."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

import msgpack

from cosigner_ha.wire.errors import CodecError
from cosigner_ha.wire.framing import MAX_FRAME_SIZE
from cosigner_ha.wire.messages import PROTOCOL_VERSION
from cosigner_ha.wire.schema import Message, from_plain, plain_body

M = TypeVar("M", bound=Message)


def _no_ext(code: int, data: bytes) -> Any:
    raise CodecError(f"msgpack extension type {code} is not part of the protocol")


class _Packers(threading.local):
    """One msgpack packer per thread, kept: `msgpack.packb` builds a packer per call, which costs more
    than packing a small message. A packer holds a buffer, hence one per thread."""

    def __init__(self) -> None:
        self.packer = msgpack.Packer(use_bin_type=True)


_PACKERS = _Packers()


def encode(msg: Message) -> bytes:
    """One frame's payload: `{"v": version, "type": ..., "body": {...}}`."""
    data: bytes = _PACKERS.packer.pack({"v": PROTOCOL_VERSION, "type": msg.TYPE, "body": plain_body(msg)})
    return data


def decode(payload: bytes, *, max_size: int = MAX_FRAME_SIZE) -> Message:
    """Decode one payload. Raises CodecError, naming the field, for anything that is not a valid message."""
    if len(payload) > max_size:
        raise CodecError(f"payload of {len(payload)} bytes exceeds the maximum of {max_size}")
    try:
        obj = msgpack.unpackb(
            payload,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_no_ext,
        )
    except CodecError:
        raise
    except msgpack.ExtraData as exc:
        raise CodecError(f"trailing bytes after the message ({len(exc.extra)} bytes)") from None
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        # msgpack signals truncation, bad UTF-8, non-string keys and stack depth all as ValueError kinds.
        raise CodecError(f"not a msgpack message: {type(exc).__name__}: {exc}") from None
    except RecursionError:
        raise CodecError("message nests too deeply") from None
    if not isinstance(obj, dict):
        raise CodecError(f"expected a map at the top level, got {type(obj).__name__}")
    version = obj.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise CodecError(
            f"protocol version {version!r} is not supported (this side speaks {PROTOCOL_VERSION})"
        )
    return from_plain(obj)


def decode_as(payload: bytes, kind: type[M]) -> M:
    """Decode and insist on a kind (a Response to a Request, say)."""
    msg = decode(payload)
    if not isinstance(msg, kind):
        raise CodecError(f"expected a {kind.__name__}, got {msg.TYPE!r}")
    return msg
