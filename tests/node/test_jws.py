"""The callback JWTs' decoder answers exactly as PyJWT's own: the same payloads, the same refusals."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from jwt.api_jws import PyJWS

from cosigner_ha.node import jws

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)

# mostly the alphabet and padding, sometimes a byte PyJWT must refuse (GHSA-hxm8-2xgr-2p9m's '!!!!' among them)
segments = st.lists(
    st.one_of(
        st.sampled_from(list(jws.BASE64URL_ALPHABET + b"=")),
        st.sampled_from(list(b"!+/.= \n\x00\xff")),
        st.integers(0, 255),
    ),
    max_size=40,
).map(bytes)


def outcome(decode: object, segment: bytes) -> tuple[str, object]:
    try:
        return "ok", decode(segment, "payload")  # type: ignore[operator]
    except jwt.DecodeError as exc:
        return "refused", str(exc)


@pytest.mark.skipif(
    not hasattr(PyJWS, "_decode_base64url_segment"), reason="this PyJWT has no per-segment check"
)
@given(segments)
def test_segments_decode_and_fail_as_pyjwt_decides(segment: bytes) -> None:
    ours = outcome(jws.decode_base64url_segment, segment)
    theirs = outcome(PyJWS._decode_base64url_segment, segment)
    assert ours == theirs


def test_a_signed_token_decodes_to_its_claims_and_the_fast_check_is_the_one_used() -> None:
    claims = {"action": "APPROVE", "requestId": "r-1", "note": "x" * 1200}
    token = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k"})
    assert jws.decode(token.encode(), KEY.public_key(), algorithms=["RS256"]) == claims
    complete = jws.decode_complete(token, KEY.public_key(), algorithms=["RS256"])
    assert complete["header"]["kid"] == "k" and complete["payload"] == claims
    assert isinstance(jws.JWT()._jws, jws.JWS)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-4] + ("AAAA" if t[-4:] != "AAAA" else "BBBB"),  # another signature
        lambda t: t.replace(".", ".!!!!", 1),  # junk before the payload
        lambda t: t + "===",  # too much padding
    ],
)
def test_tampered_tokens_are_refused_as_pyjwt_refuses_them(tamper: object) -> None:
    token = tamper(jwt.encode({"requestId": "r-1"}, KEY, algorithm="RS256"))  # type: ignore[operator]
    with pytest.raises(jwt.PyJWTError) as ours:
        jws.decode(token, KEY.public_key(), algorithms=["RS256"])
    with pytest.raises(jwt.PyJWTError) as theirs:
        jwt.decode(token, KEY.public_key(), algorithms=["RS256"])
    assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)


def test_a_token_signed_by_another_key_is_refused() -> None:
    token = jwt.encode({"requestId": "r-1"}, OTHER, algorithm="RS256")
    with pytest.raises(jwt.InvalidSignatureError):
        jws.decode(token, KEY.public_key(), algorithms=["RS256"])
