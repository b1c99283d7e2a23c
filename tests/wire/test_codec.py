"""Every message round-trips; every malformed payload or frame raises the codec's error, and only that."""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha import wire
from cosigner_ha.wire import (
    REGISTRY,
    CodecError,
    FrameDecoder,
    FrameTooLarge,
    Message,
    TruncatedFrame,
    decode,
    decode_as,
    encode,
    encode_frame,
)

plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=40),
        int: st.integers(-(2**63), 2**64 - 1),
        float: st.floats(allow_nan=False),
        bool: st.booleans(),
        bytes: st.binary(max_size=96),
    }
    if hint in simple:
        return simple[hint]
    if hint is Any:
        return plain_values
    if origin in (types.UnionType, typing.Union):
        inner = next(a for a in args if a is not type(None))
        return st.none() | strategy_for(inner)
    if origin is list:
        return st.lists(strategy_for(args[0]), max_size=4)
    if origin is dict:
        return st.dictionaries(st.text(max_size=10), strategy_for(args[1]), max_size=4)
    if isinstance(hint, type) and issubclass(hint, Message):
        kinds = [c for c in REGISTRY.values() if issubclass(c, hint)]
        return st.one_of([st.deferred(lambda c=c: messages_of(c)) for c in kinds])
    raise AssertionError(f"no strategy for {hint!r}")


def messages_of(cls: type[Message]) -> st.SearchStrategy[Message]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(cls)})


any_message = st.one_of([messages_of(cls) for cls in REGISTRY.values()])


@settings(max_examples=400)
@given(any_message)
def test_every_message_round_trips(msg: Message) -> None:
    assert decode(encode(msg)) == msg


@given(st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_codec_errors(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        decode(data)


@given(any_message, st.data())
def test_mutated_messages_raise_only_codec_errors(msg: Message, data: st.DataObject) -> None:
    payload = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        if not payload:
            break
        i = data.draw(st.integers(0, len(payload) - 1))
        payload[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    with contextlib.suppress(CodecError):
        decode(bytes(payload[:cut]))


@given(plain_values)
def test_any_msgpack_value_decodes_or_raises_codec_error(value: Any) -> None:
    with contextlib.suppress(CodecError):
        decode(msgpack.packb(value, use_bin_type=True))


def _raw(body: dict[str, Any], type_: str = "probe", v: Any = wire.PROTOCOL_VERSION) -> bytes:
    return msgpack.packb({"v": v, "type": type_, "body": body}, use_bin_type=True)


GOOD_PROBE = {"probe_id": "p1", "tx_id": "tx-1", "api_user": "signer-a", "deadline": 3.0}
GOOD_SIGN_REQUEST = {
    "session_id": "s1",
    "tx_id": "tx-1",
    "api_user": "signer-a",
    "request": {},
    "message": b"m" * 32,
    "participants": [1, 2, 3],
    "deadline": 3.0,
}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_raw(GOOD_PROBE, type_="launch_missiles"), "unknown message type 'launch_missiles'"),
        (_raw({k: v for k, v in GOOD_PROBE.items() if k != "tx_id"}), "missing field(s) tx_id"),
        (_raw({**GOOD_PROBE, "extra": 1}), "unexpected field(s) extra"),
        (_raw({**GOOD_PROBE, "tx_id": 5}), "message.tx_id: expected str, got int"),
        (_raw({**GOOD_PROBE, "deadline": True}), "message.deadline: expected float, got bool"),
        (_raw(GOOD_PROBE, v=1), "protocol version 1 is not supported (this side speaks 2)"),
        (_raw(GOOD_PROBE)[:-3], "not a msgpack message"),
        (_raw(GOOD_PROBE) + b"\x00", "trailing bytes"),
        (b"\xc1", "not a msgpack message"),
        (msgpack.packb([1, 2, 3]), "expected a map at the top level"),
        (msgpack.packb(msgpack.ExtType(5, b"x")), "extension type 5"),
        (
            _raw({"items": [{"type": "ack", "body": {}}]}, type_="poll_result"),
            "message.items[0].type: 'ack' is not a WorkItem",
        ),
        (
            _raw({"items": [{"type": "probe", "body": {}}]}, type_="poll_result"),
            "message.items[0] (probe): missing",
        ),
        (  # plain payloads are checked all the way down, and the path names where
            _raw({**GOOD_SIGN_REQUEST, "request": {b"txId": "tx-1"}}, type_="sign_request"),
            "message.request: map keys must be strings, got bytes",
        ),
        (
            _raw(
                {**GOOD_SIGN_REQUEST, "request": {"destinations": [{"amount": 1}, {"to": {b"k": 1}}]}},
                type_="sign_request",
            ),
            "message.request.destinations[1].to: map keys must be strings, got bytes",
        ),
    ],
)
def test_malformed_messages_name_what_was_wrong(payload: bytes, message: str) -> None:
    with pytest.raises(CodecError) as info:
        decode(payload)
    assert message in str(info.value)


def test_decode_as_insists_on_the_kind() -> None:
    payload = encode(wire.Ack())
    assert decode_as(payload, wire.Response) == wire.Ack()
    with pytest.raises(CodecError, match="expected a Request, got 'ack'"):
        decode_as(payload, wire.Request)


def test_int_accepts_no_bool_and_float_accepts_int() -> None:
    msg = decode(_raw({**GOOD_PROBE, "deadline": 7}))
    assert isinstance(msg, wire.AvailabilityProbe) and msg.deadline == 7.0


@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(1, 64))
def test_frames_survive_any_chunking(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder, out = FrameDecoder(), []
    for i in range(0, len(stream), chunk):
        decoder.feed(stream[i : i + chunk])
        while (frame := decoder.next_frame()) is not None:
            out.append(frame)
    decoder.eof()
    assert out == payloads


def test_oversize_frames_are_refused_on_both_sides_before_buffering() -> None:
    with pytest.raises(FrameTooLarge, match="exceeds the maximum of 16 bytes"):
        encode_frame(b"x" * 17, max_size=16)
    decoder = FrameDecoder(max_size=16)
    decoder.feed((1 << 30).to_bytes(4, "big"))  # only the header arrived: refused at once
    with pytest.raises(FrameTooLarge, match="announced a frame of 1073741824 bytes"):
        decoder.next_frame()


def test_truncated_frame_is_an_error_at_eof_but_a_clean_end_is_not() -> None:
    decoder = FrameDecoder()
    decoder.feed(encode_frame(b"hello")[:-2])
    assert decoder.next_frame() is None
    with pytest.raises(TruncatedFrame, match="7 bytes of an unfinished frame"):
        decoder.eof()
    FrameDecoder().eof()


def test_frame_errors_are_codec_errors() -> None:
    assert issubclass(FrameTooLarge, CodecError) and issubclass(TruncatedFrame, CodecError)
