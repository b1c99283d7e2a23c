"""Node <-> SaaS messages, msgpack codec and framing. Imports nothing else of ours."""

from cosigner_ha.wire.codec import decode, decode_as, encode
from cosigner_ha.wire.errors import CodecError, FrameTooLarge, TruncatedFrame
from cosigner_ha.wire.framing import MAX_FRAME_SIZE, FrameDecoder, encode_frame
from cosigner_ha.wire.identifiers import CLOUD_IDENTIFIERS, NODE_IDENTIFIER, SHARE_THRESHOLD
from cosigner_ha.wire.messages import *  # noqa: F403
from cosigner_ha.wire.messages import PROTOCOL_VERSION, Request, Response, WorkItem
from cosigner_ha.wire.schema import REGISTRY, Message

__all__ = [
    "CLOUD_IDENTIFIERS",
    "MAX_FRAME_SIZE",
    "NODE_IDENTIFIER",
    "PROTOCOL_VERSION",
    "REGISTRY",
    "SHARE_THRESHOLD",
    "CodecError",
    "FrameDecoder",
    "FrameTooLarge",
    "Message",
    "Request",
    "Response",
    "TruncatedFrame",
    "WorkItem",
    "decode",
    "decode_as",
    "encode",
    "encode_frame",
]
