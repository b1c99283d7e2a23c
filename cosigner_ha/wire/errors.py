"""The codec's one error type: nothing else escapes decoding."""

from __future__ import annotations


class CodecError(ValueError):
    """Bytes that are not a valid frame or message; the text says what was wrong and where."""


class FrameTooLarge(CodecError):
    """A frame's declared length exceeds the negotiated maximum."""


class TruncatedFrame(CodecError):
    """The stream ended inside a frame."""
