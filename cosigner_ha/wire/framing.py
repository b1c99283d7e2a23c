"""Length-prefixed frames: a 4-byte big-endian length, then that many payload bytes.

Kept apart from any I/O (the h11 way): `FrameDecoder` is fed bytes and hands back whole frames, so the
TCP transport and the tests drive the same state machine.
"""

from __future__ import annotations

import struct

from cosigner_ha.wire.errors import FrameTooLarge, TruncatedFrame

HEADER = struct.Struct(">I")
#: Largest payload a peer may send. Signing requests and MPC rounds are a few hundred bytes; a
#: configuration change with a whole policy is the largest message and stays far below this.
MAX_FRAME_SIZE = 1 << 20


def encode_frame(payload: bytes, *, max_size: int = MAX_FRAME_SIZE) -> bytes:
    """Prefix `payload` with its length, refusing what the peer would refuse."""
    if len(payload) > max_size:
        raise FrameTooLarge(f"frame of {len(payload)} bytes exceeds the maximum of {max_size} bytes")
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Incremental decoder: `feed()` bytes as they arrive, then take frames with `next_frame()`."""

    def __init__(self, *, max_size: int = MAX_FRAME_SIZE) -> None:
        self._max_size = max_size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """The next whole frame, or None when more bytes are needed. Raises FrameTooLarge early."""
        if len(self._buffer) < HEADER.size:
            return None
        (length,) = HEADER.unpack_from(self._buffer)
        if length > self._max_size:
            raise FrameTooLarge(f"peer announced a frame of {length} bytes; the maximum is {self._max_size}")
        end = HEADER.size + length
        if len(self._buffer) < end:
            return None
        frame = bytes(self._buffer[HEADER.size : end])
        del self._buffer[:end]
        return frame

    def eof(self) -> None:
        """The stream ended: fine between frames, an error inside one."""
        if self._buffer:
            raise TruncatedFrame(f"stream ended with {len(self._buffer)} bytes of an unfinished frame")

    @property
    def pending(self) -> int:
        return len(self._buffer)
