"""Request authentication as Fireblocks does it: `X-API-Key` names the API user, and a Bearer RS256 JWT
signed with that user's private key binds the request: `sub` is the key, `uri` the path and query exactly
as sent (with `/v1`), `bodyHash` the SHA-256 hex of the raw body, `iat`/`exp` a short window around now, and
`nonce` never seen before. Each failure has its own message and code (errors.py).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.saas_sim.rest import errors
from cosigner_ha.saas_sim.rest.errors import ApiError

#: The SDKs sign with exp = iat + 55 s (the docs say 30); a token may live at most this long.
MAX_LIFETIME = 60.0
#: Tolerated clock difference between client and server for `iat` in the future.
CLOCK_LEEWAY = 5.0


@dataclasses.dataclass(frozen=True)
class ApiCredential:
    """One API user's REST credentials: its API key and the public key of its secret (from its CSR)."""

    api_key: str
    api_user: str  # the workspace's API user name
    public_key: rsa.RSAPublicKey


def load_public_key(data: bytes, origin: str = "public key") -> rsa.RSAPublicKey:
    """An RSA public key from a PEM public key or the PEM CSR a user uploads to Fireblocks."""
    text = data.strip()
    key: Any
    try:
        if b"CERTIFICATE REQUEST" in text:
            key = x509.load_pem_x509_csr(text).public_key()
        elif b"CERTIFICATE" in text:
            key = x509.load_pem_x509_certificate(text).public_key()
        else:
            key = serialization.load_pem_public_key(text)
    except ValueError as exc:
        raise ValueError(f"{origin}: expected a PEM public key or CSR: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{origin}: expected an RSA key (the API signs RS256), got {type(key).__name__}")
    return key


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _unauthorized(code: int, message: str) -> ApiError:
    return ApiError(401, code, message)


class Authenticator:
    """Checks every request; remembers nonces until their token expires (then a replay fails on `exp`)."""

    def __init__(
        self,
        credentials: Iterable[ApiCredential],
        wall: Callable[[], float],
        *,
        max_lifetime: float = MAX_LIFETIME,
        leeway: float = CLOCK_LEEWAY,
    ) -> None:
        self.credentials = {c.api_key: c for c in credentials}
        self._wall = wall
        self._max_lifetime = max_lifetime
        self._leeway = leeway
        self._nonces: dict[str, float] = {}
        self._expiries: collections.deque[tuple[float, str]] = collections.deque()

    def authenticate(self, uri: str, headers: Mapping[str, str], body: bytes) -> ApiCredential:
        api_key = headers.get("x-api-key", "")
        if not api_key:
            raise _unauthorized(errors.MISSING_API_KEY, "Missing API key: the X-API-Key header is absent")
        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized(
                errors.MISSING_JWT, "JWT is missing: expected an 'Authorization: Bearer <JWT>' header"
            )
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthorized(
                errors.INVALID_TOKEN_FORMAT, f"Unauthorized: Invalid token format ({exc})"
            ) from None
        if header.get("alg") != "RS256":
            raise _unauthorized(
                errors.INVALID_TOKEN_FORMAT,
                f"Unauthorized: Invalid token format (alg {header.get('alg')!r}; expected RS256)",
            )
        credential = self.credentials.get(api_key)
        if credential is None:
            raise _unauthorized(
                errors.TOKEN_NOT_ACCEPTED, "Unauthorized: Token was not accepted (unknown API key)"
            )
        try:
            claims = jwt.decode(
                token,
                credential.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            raise _unauthorized(
                errors.INVALID_SIGNATURE,
                "invalid signature: the JWT is not signed by the secret key of this API key",
            ) from None
        except jwt.PyJWTError as exc:
            raise _unauthorized(
                errors.INVALID_TOKEN_FORMAT, f"Unauthorized: Invalid token format ({exc})"
            ) from None
        sub = claims.get("sub")
        if not sub:
            raise _unauthorized(errors.MISSING_API_KEY, "Missing API key in the JWT: no 'sub' claim")
        if sub != api_key:
            raise _unauthorized(errors.WRONG_USER, "Wrong user in the JWT: 'sub' is not the X-API-Key")
        if claims.get("uri") != uri:
            raise _unauthorized(
                errors.WRONG_URI,
                f"Wrong URL in the JWT: 'uri' is {claims.get('uri')!r}, the request is {uri!r}",
            )
        if claims.get("bodyHash") != hashlib.sha256(body).hexdigest():
            raise _unauthorized(
                errors.WRONG_BODY_HASH,
                "Wrong body hash in the JWT: 'bodyHash' is not the SHA-256 of the body",
            )
        raw_iat: Any = claims.get("iat")
        raw_exp: Any = claims.get("exp")
        if not _number(raw_iat) or not _number(raw_exp):
            raise _unauthorized(
                errors.INVALID_TOKEN_FORMAT,
                "Unauthorized: Invalid token format ('iat' and 'exp' must be numbers)",
            )
        iat, exp = float(raw_iat), float(raw_exp)
        now = self._wall()
        if exp <= now:
            raise _unauthorized(errors.EXPIRED, "The request has expired.")
        if iat > now + self._leeway:
            raise _unauthorized(errors.FUTURE_IAT, "The request is with a future issuance timestamp (iat)")
        if exp - iat > self._max_lifetime:
            raise _unauthorized(
                errors.EXPIRED,
                f"The request has expired: a JWT may live at most {self._max_lifetime:g} s (exp - iat)",
            )
        nonce = claims.get("nonce")
        if not isinstance(nonce, str | int) or nonce == "":
            raise _unauthorized(
                errors.INVALID_TOKEN_FORMAT, "Unauthorized: Invalid token format (no 'nonce')"
            )
        self._forget(now)
        key = f"{api_key}\x00{nonce}"
        if key in self._nonces:
            raise _unauthorized(
                errors.NONCE_REPLAYED, "The nonce was already used: each request needs a new one"
            )
        self._nonces[key] = exp
        self._expiries.append((exp, key))
        return credential

    def _forget(self, now: float) -> None:
        # Expiries arrive nearly in order (exp = iat + a constant); a late one is dropped a little later.
        while self._expiries and self._expiries[0][0] < now:
            _, key = self._expiries.popleft()
            self._nonces.pop(key, None)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
