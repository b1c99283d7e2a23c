"""Node <-> SaaS messages, msgpack codec and framing. Imports nothing else of ours."""

from cosigner_ha.wire.errors import CodecError, FrameTooLarge, TruncatedFrame
from cosigner_ha.wire.framing import MAX_FRAME_SIZE, FrameDecoder, encode_frame

__all__ = ["MAX_FRAME_SIZE", "CodecError", "FrameDecoder", "FrameTooLarge", "TruncatedFrame", "encode_frame"]
