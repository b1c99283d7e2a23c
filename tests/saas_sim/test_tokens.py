"""JWTs: each refusal has its own class and code, and times are the SaaS's clock, never the OS's."""

from __future__ import annotations

import base64
import itertools
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.env import SIMULATION_EPOCH
from cosigner_ha.saas_sim.errors import TokenError, TokenExpired, TokenForeign, TokenForged, TokenMalformed
from cosigner_ha.saas_sim.tokens import TokenAuthority


class Wall:
    def __init__(self) -> None:
        self.t = SIMULATION_EPOCH

    def __call__(self) -> float:
        return self.t


def authority(wall: Wall, key: bytes = bytes(range(32))) -> TokenAuthority:
    counter = itertools.count(1)
    return TokenAuthority(key_bytes=key, wall=wall, new_id=lambda: f"jti-{next(counter)}")


def test_pairing_token_round_trip_and_simulated_expiry() -> None:
    wall = Wall()
    auth = authority(wall)
    token, issued = auth.issue_pairing(workspace_id="ws-1", api_user_id="u-1", ttl=3600)
    claims = auth.verify(token, "pairing")
    assert (claims.workspace_id, claims.subject, claims.jti) == ("ws-1", "u-1", issued.jti)
    assert claims.expires_at == SIMULATION_EPOCH + 3600
    wall.t += 3599
    auth.verify(token, "pairing")
    wall.t += 1
    with pytest.raises(TokenExpired, match="expired 0 s ago") as err:
        auth.verify(token, "pairing")
    assert err.value.code == "TOKEN_EXPIRED"
    # Simulated 2026 dates would be long expired or not yet valid for the OS clock: PyJWT never looks.
    assert auth.verify(token, "pairing", check_expiry=False).jti == issued.jti


def test_same_key_and_ids_give_the_same_token() -> None:
    a, _ = authority(Wall()).issue_access(cosigner_id="c", ttl=60)
    b, _ = authority(Wall()).issue_access(cosigner_id="c", ttl=60)
    assert a == b


def test_a_token_from_another_key_is_forged() -> None:
    wall = Wall()
    theirs, _ = authority(wall, key=bytes(32)).issue_pairing(workspace_id="ws", api_user_id="u", ttl=60)
    with pytest.raises(TokenForged, match="does not verify") as err:
        authority(wall).verify(theirs, "pairing")
    assert err.value.code == "TOKEN_FORGED"


def test_algorithm_confusion_is_forged() -> None:
    wall = Wall()
    auth = authority(wall)
    hs = jwt.encode({"typ": "pairing"}, "secret-long-enough-for-hs256-0123456789", algorithm="HS256")
    with pytest.raises(TokenForged, match="'HS256'"):
        auth.verify(hs, "pairing")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"typ": "pairing"}).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenForged, match="'none'"):
        auth.verify(f"{header}.{body}.", "pairing")


def test_a_tampered_claim_is_forged() -> None:
    wall = Wall()
    auth = authority(wall)
    token, _ = auth.issue_pairing(workspace_id="ws", api_user_id="u", ttl=60)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "someone-else"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenForged):
        auth.verify(f"{head}.{forged_body}.{sig}", "pairing")


def test_a_token_for_another_purpose_is_foreign() -> None:
    wall = Wall()
    auth = authority(wall)
    access, _ = auth.issue_access(cosigner_id="c", ttl=60)
    with pytest.raises(TokenForeign, match="access token was presented where a pairing token"):
        auth.verify(access, "pairing")
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    alien = jwt.encode({"iss": "someone", "typ": "pairing"}, other, algorithm="EdDSA")
    with pytest.raises(TokenForeign, match="not issued by this SaaS"):
        auth.verify(alien, "pairing")


def test_missing_claims_are_malformed() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    partial = jwt.encode({"iss": "cosigner-ha-saas", "typ": "pairing", "jti": "x"}, key, algorithm="EdDSA")
    with pytest.raises(TokenMalformed, match="lacks the claim"):
        authority(Wall()).verify(partial, "pairing")


@given(st.one_of(st.text(max_size=80), st.binary(max_size=40), st.integers(), st.none()))
def test_garbage_is_a_token_error_and_nothing_else(garbage: object) -> None:
    with pytest.raises(TokenError):
        authority(Wall()).verify(garbage, "access")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", max_size=30), st.integers(0, 2))
def test_dotted_garbage_is_a_token_error(part: str, where: int) -> None:
    parts = ["eyJhbGciOiJFZERTQSJ9", "e30", "c2ln"]
    parts[where] = part
    with pytest.raises(TokenError):
        authority(Wall()).verify(".".join(parts), "access")
