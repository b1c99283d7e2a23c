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


# --- the per-message plans: the same bytes, the same messages, the same errors ----------------------------


def reference_plain(value: Any) -> Any:
    """What a message is on the wire, written out independently of the codec: fields in field order."""
    if isinstance(value, Message):
        fields = dataclasses.fields(value)
        return {"type": value.TYPE, "body": {f.name: reference_plain(getattr(value, f.name)) for f in fields}}
    if isinstance(value, list | tuple):
        return [reference_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: reference_plain(v) for k, v in value.items()}
    return value


@settings(max_examples=300)
@given(any_message)
def test_the_bytes_are_the_plain_shape_packed(msg: Message) -> None:
    expected = msgpack.packb({"v": wire.PROTOCOL_VERSION, **reference_plain(msg)}, use_bin_type=True)
    assert encode(msg) == expected
    assert encode(msg) == expected  # the kept packer starts each frame afresh


def test_a_known_frame_keeps_its_bytes() -> None:
    probe = wire.PollResult([wire.AvailabilityProbe("probe-1", "tx-1", "signer-a", 3.5)])
    assert encode(probe).hex() == (
        "83a17602a474797065ab706f6c6c5f726573756c74a4626f647981a56974656d739182a474797065a570726f6265"
        "a4626f647984a870726f62655f6964a770726f62652d31a574785f6964a474782d31a86170695f75736572a8"
        "7369676e65722d61a8646561646c696e65cb400c000000000000"
    )


def _perturbed_bodies() -> st.SearchStrategy[tuple[type[Message], Any]]:
    """A message's body as a peer could send it: valid, or with a field dropped, added or retyped."""

    def perturb(msg: Message, data: st.DataObject) -> tuple[type[Message], Any]:
        body = dict(reference_plain(msg)["body"])
        how = data.draw(st.sampled_from(["keep", "drop", "add", "retype", "not a map"]))
        if how == "drop" and body:
            del body[data.draw(st.sampled_from(sorted(body)))]
        elif how == "add":
            body[data.draw(st.text(max_size=12))] = data.draw(plain_values)
        elif how == "retype" and body:
            body[data.draw(st.sampled_from(sorted(body)))] = data.draw(plain_values)
        elif how == "not a map":
            return type(msg), data.draw(plain_values.filter(lambda v: not isinstance(v, dict)))
        return type(msg), body

    return st.builds(perturb, any_message, st.data())


@settings(max_examples=400)
@given(_perturbed_bodies())
def test_the_plan_and_the_generic_checks_agree(case: tuple[type[Message], Any]) -> None:
    """The fast path builds exactly what the field-by-field checks build, and refuses with their words."""
    from cosigner_ha.wire import schema

    cls, body = case
    envelope = {"type": cls.TYPE, "body": body}
    try:
        expected: Message | str = schema._build_checked(cls, body, "message")
    except CodecError as exc:
        expected = str(exc)
    try:
        got: Message | str = schema.from_plain(envelope)
    except CodecError as exc:
        got = str(exc)
    assert got == expected
    if isinstance(got, Message):
        assert type(got) is cls and got == cls(
            **{f.name: getattr(got, f.name) for f in dataclasses.fields(got)}
        )


def test_a_decoded_message_is_as_frozen_as_a_built_one() -> None:
    msg = decode(_raw(GOOD_PROBE))
    assert msg == wire.AvailabilityProbe(**GOOD_PROBE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.tx_id = "tx-2"  # type: ignore[misc]


@dataclasses.dataclass(frozen=True, slots=True)
class _Checked(Message):
    """Not registered: a message whose construction checks more than its field types."""

    TYPE = "checked_for_tests"
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")


def test_a_message_that_checks_itself_is_built_by_its_constructor() -> None:
    from cosigner_ha.wire import schema

    plan = schema._plan(_Checked)
    assert plan.build({"low": 1, "high": 2}, "message") == _Checked(1, 2)
    with pytest.raises(CodecError, match=r"message \(checked_for_tests\): low 3 is above high 2"):
        plan.build({"low": 3, "high": 2}, "message")
    with pytest.raises(CodecError, match=r"message\.high: expected int, got str"):
        plan.build({"low": 3, "high": "2"}, "message")


def test_a_frame_that_cannot_be_packed_leaves_nothing_behind() -> None:
    """The kept packer starts the next frame clean after refusing one."""
    with pytest.raises(TypeError, match="set"):
        encode(wire.ConfigChange("r-1", "signer-a", "ADD_WALLET", {"wallets": {"cold"}}))
    assert encode(wire.Error("BAD", "no")) == msgpack.packb(
        {"v": wire.PROTOCOL_VERSION, "type": "error", "body": {"code": "BAD", "message": "no"}},
        use_bin_type=True,
    )
