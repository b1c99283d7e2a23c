"""Argument checks shared by both transports, so bad input reads the same everywhere."""

from __future__ import annotations

import math


def check_seconds(name: str, value: float, *, positive: bool = False) -> float:
    """A finite duration (at least 0, or above 0 when `positive`), or a ValueError naming `name`."""
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        expected = "above 0" if positive else "at least 0"
        raise ValueError(f"{name} must be a finite number of seconds {expected}, got {value!r}")
    return float(value)


def check_frame_size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number of bytes, at least 0, got {value!r}")
    return value


def frame_bytes(frame: bytes) -> bytes:
    """The frame as immutable bytes (a later change to a bytearray must not alter what was sent)."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise TypeError(f"a frame is bytes, got {type(frame).__name__}")
    return bytes(frame)
