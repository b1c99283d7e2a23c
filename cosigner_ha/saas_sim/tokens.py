"""The SaaS's JWTs: pairing tokens, refresh tokens and short-lived access tokens.

All three are EdDSA (Ed25519) JWTs under one signing key drawn from the environment's DRBG, so a run
replays byte for byte. PyJWT would check `exp` and `iat` against the OS clock; it is never allowed to:
times are checked here against the SaaS's own `clock.wall()`, so simulated time and clock-skew faults are
what count. Each refusal is its own exception class (see `errors.py`), so a node's log says whether its
token was expired, replayed, forged, malformed, revoked or meant for something else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cosigner_ha.saas_sim.errors import TokenExpired, TokenForeign, TokenForged, TokenMalformed

Purpose = Literal["pairing", "refresh", "access"]
ISSUER = "cosigner-ha-saas"
VERIFIED_CACHE_SIZE = 4096
ALGORITHM = "EdDSA"

_REQUIRED: dict[Purpose, tuple[str, ...]] = {
    "pairing": ("iss", "typ", "jti", "iat", "exp", "ws", "sub"),
    "refresh": ("iss", "typ", "jti", "iat", "ws", "sub", "cos"),
    "access": ("iss", "typ", "jti", "iat", "exp", "sub", "gen"),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Claims:
    """A verified token's claims. `sub` is the API user id (pairing, refresh) or the co-signer id (access)."""

    purpose: Purpose
    jti: str
    issued_at: float
    expires_at: float | None
    subject: str
    workspace_id: str | None
    cosigner_id: str | None
    raw: dict[str, Any]


class TokenAuthority:
    """Issues and verifies the SaaS's tokens. Stateless: single use and revocation live with the callers."""

    def __init__(self, *, key_bytes: bytes, wall: Callable[[], float], new_id: Callable[[], str]) -> None:
        if len(key_bytes) != 32:
            raise ValueError(f"an Ed25519 signing key is 32 bytes, got {len(key_bytes)}")
        self._key = Ed25519PrivateKey.from_private_bytes(key_bytes)
        self.public_key: Ed25519PublicKey = self._key.public_key()
        self._wall = wall
        self._new_id = new_id
        #: Tokens whose signature and shape already verified: a node presents the same access token on every
        #: request, and the signature of a given string verifies the same way every time. Expiry and
        #: revocation are still checked on each use.
        self._verified: dict[tuple[str, Purpose], Claims] = {}

    def _issue(self, purpose: Purpose, claims: dict[str, Any], ttl: float | None) -> tuple[str, Claims]:
        now = self._wall()
        body: dict[str, Any] = {
            "iss": ISSUER,
            "typ": purpose,
            "jti": self._new_id(),
            "iat": int(now),
            **claims,
        }
        if ttl is not None:
            body["exp"] = now + ttl
        token = jwt.encode(body, self._key, algorithm=ALGORITHM)
        return token, self._claims(purpose, body)

    def issue_pairing(self, *, workspace_id: str, api_user_id: str, ttl: float) -> tuple[str, Claims]:
        """A pairing token bound to one workspace and one API user; single use is the caller's to enforce."""
        return self._issue("pairing", {"ws": workspace_id, "sub": api_user_id}, ttl)

    def issue_refresh(self, *, workspace_id: str, api_user_id: str, cosigner_id: str) -> tuple[str, Claims]:
        """Long-lived, bound to one pairing; revoked when that pairing is undone."""
        return self._issue("refresh", {"ws": workspace_id, "sub": api_user_id, "cos": cosigner_id}, None)

    def issue_access(self, *, cosigner_id: str, ttl: float, generation: int = 0) -> tuple[str, Claims]:
        """Short-lived; names the co-signer (whose paired API users the registry knows) and the generation
        of its pairings, so that unpairing revokes access tokens at once."""
        return self._issue("access", {"sub": cosigner_id, "gen": generation}, ttl)

    def verify(self, token: Any, purpose: Purpose, *, check_expiry: bool = True) -> Claims:
        """Signature, shape, purpose and expiry. Raises a `TokenError` subclass saying which failed.

        `check_expiry=False` lets a caller test single use first (a replayed token is reported as replayed
        even once it has also expired), then call `check_expiry`.
        """
        known = self._verified.get((token, purpose)) if isinstance(token, str) else None
        if known is not None:
            if check_expiry:
                self.check_expiry(known)
            return known
        if not isinstance(token, str) or token.count(".") != 2:
            raise TokenMalformed(f"the {purpose} token is not a compact JWT (three dot-separated parts)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise TokenMalformed(f"the {purpose} token's header does not decode: {exc}") from None
        if header.get("alg") != ALGORITHM:
            raise TokenForged(
                f"the {purpose} token is signed with {header.get('alg')!r}; the SaaS signs only with {ALGORITHM}"
            )
        try:
            body = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenForged(
                f"the {purpose} token's signature does not verify under the SaaS's key"
            ) from None
        except jwt.PyJWTError as exc:
            raise TokenMalformed(f"the {purpose} token does not decode: {exc}") from None
        if body.get("iss") != ISSUER or body.get("typ") not in _REQUIRED:
            raise TokenForeign(f"the {purpose} token was not issued by this SaaS for co-signers")
        if body["typ"] != purpose:
            raise TokenForeign(f"a {body['typ']} token was presented where a {purpose} token is required")
        missing = [c for c in _REQUIRED[purpose] if c not in body]
        if missing:
            raise TokenMalformed(f"the {purpose} token lacks the claim(s) {', '.join(missing)}")
        claims = self._claims(purpose, body)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[(token, purpose)] = claims
        if check_expiry:
            self.check_expiry(claims)
        return claims

    def check_expiry(self, claims: Claims) -> None:
        now = self._wall()
        if claims.expires_at is not None and now >= claims.expires_at:
            raise TokenExpired(
                f"the {claims.purpose} token expired {now - claims.expires_at:.0f} s ago "
                f"(valid until {claims.expires_at:.0f}, SaaS clock {now:.0f})"
            )

    @staticmethod
    def _claims(purpose: Purpose, body: dict[str, Any]) -> Claims:
        exp = body.get("exp")
        try:
            return Claims(
                purpose=purpose,
                jti=str(body["jti"]),
                issued_at=float(body["iat"]),
                expires_at=None if exp is None else float(exp),
                subject=str(body["sub"]),
                workspace_id=None if body.get("ws") is None else str(body["ws"]),
                cosigner_id=None if body.get("cos") is None else str(body["cos"]),
                raw=dict(body),
            )
        except (TypeError, ValueError) as exc:
            raise TokenMalformed(f"the {purpose} token has a claim of the wrong type: {exc}") from None
