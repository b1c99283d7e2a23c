"""A reference callback handler: a Starlette application with configurable rules.

It speaks both authentication modes: with a `key` (RSA) it is a public-key handler (requests are JWTs
signed by the co-signer, checked first against the trusted key their `kid` names when there is one,
answers are RS256 JWTs naming the key by its RFC 7638 thumbprint in `kid`, on
`/v2/...` paths); without one it answers plain JSON on the paths without `/v2` (certificate pinning is
the TLS layer's business). Rules: a default action, a latency, REJECT above a USD amount, RETRY for the
first N attempts of each request, and injectable faults (timeout, down, error, garbage, bad signature,
wrong key) for rehearsing handler failures. Tests and the demo use it; users can start from it.

The same decision logic is available without HTTP as `ReferenceHandler.decide`, for the in-process
"Python callable" mode.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cosigner_ha.node import jws
from cosigner_ha.node.rsa_keys import load_public_key_pem, public_key_pem, thumbprint

if TYPE_CHECKING:
    from jwt.types import Options  # PyJWT 2.10+; only its type is needed here

FAULTS = ("timeout", "down", "error", "garbage", "bad-signature", "wrong-key", "reject", "retry")


@dataclasses.dataclass
class HandlerRules:
    """What the handler answers. `fault`, when set, overrides everything (see FAULTS)."""

    action: str = "APPROVE"
    latency: float = 0.0
    reject_above_usd: float | None = None
    retry_first: int = 0
    fault: str | None = None
    hang: float = 3600.0  # how long the "timeout" fault keeps a request waiting

    def __post_init__(self) -> None:
        if self.action not in ("APPROVE", "REJECT", "RETRY", "IGNORE"):
            raise ValueError(f"handler action {self.action!r} is not APPROVE, REJECT, RETRY or IGNORE")
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"handler fault {self.fault!r} is not one of {', '.join(FAULTS)}")


def amount_usd(body: dict[str, Any]) -> float:
    """The request's USD value: the destinations' `amountUSD`, else a top-level `amountUSD`."""
    total = 0.0
    found = False
    for dest in body.get("destinations") or []:
        if isinstance(dest, dict) and isinstance(dest.get("amountUSD"), int | float):
            total += float(dest["amountUSD"])
            found = True
    if not found and isinstance(body.get("amountUSD"), int | float):
        total = float(body["amountUSD"])
    return total


#: How many request ids a handler counts attempts for (a retried request comes back within seconds or
#: minutes, never after thousands of others), and how many of the latest requests it keeps whole (`seen`,
#: `raw`, for tests and inspection: several kilobytes each). Bounded so that a day-long run or a long-lived
#: handler process does not grow.
REMEMBERED = 10_000
KEPT_REQUESTS = 100
#: How many distinct JWT headers a handler remembers the key order for (one per co-signer key in use).
KEY_ORDERS = 64
#: How a request JWT is checked: RS256 only; the claims the product does not send are not required.
_RS256 = ["RS256"]
_REQUEST_CHECKS: Options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}


class RecentCounts:
    """Attempts per request id for the last `limit` ids (the oldest is forgotten first)."""

    __slots__ = ("_counts", "limit")

    def __init__(self, limit: int = REMEMBERED) -> None:
        self.limit = limit
        # oldest first: a plain dict keeps insertion order, and costs a third of an `OrderedDict` an id. Its
        # drop of the oldest walks the holes earlier drops left (3.6 us once full, after 10,000 ids: some
        # three hours at one transaction a second), a price memory is worth here
        self._counts: dict[str, int] = {}

    def add(self, key: str) -> int:
        """Count one more attempt of `key`; its count so far, this one included."""
        count = self._counts.pop(key, 0) + 1
        self._counts[key] = count  # re-inserted: now the newest
        if len(self._counts) > self.limit:
            del self._counts[next(iter(self._counts))]
        return count

    def get(self, key: str, default: int = 0) -> int:
        return self._counts.get(key, default)

    def __len__(self) -> int:
        return len(self._counts)


class ReferenceHandler:
    """Rules, state (attempts per request, every request seen) and the Starlette `app`.

    `prefix`: the path the handler is deployed under (the co-signer appends `/v2/...` to its URL).
    """

    def __init__(
        self,
        rules: HandlerRules | None = None,
        *,
        key: rsa.RSAPrivateKey | None = None,
        cosigner_keys: Sequence[str] = (),
        wrong_key: rsa.RSAPrivateKey | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        prefix: str = "",
    ) -> None:
        self.rules = rules or HandlerRules()
        self.key = key
        self.cosigner_keys = [
            load_public_key_pem(pem, what="a co-signer public key") for pem in cosigner_keys
        ]
        self._wrong_key = wrong_key
        self._sleep = sleep
        # id(key) -> (key, kid): the trusted co-signer keys' and the handler's own signing keys'
        self._thumbprints: dict[int, tuple[rsa.RSAPublicKey | rsa.RSAPrivateKey, str]] = {}
        # JWT header segment -> (the trusted keys' ids, those keys in the order to try): a few entries
        self._key_orders: dict[bytes, tuple[tuple[int, ...], tuple[rsa.RSAPublicKey, ...]]] = {}
        self.attempts = RecentCounts()
        # the latest requests, oldest first: (path, request body) and the raw bodies
        self.seen: deque[tuple[str, dict[str, Any]]] = deque(maxlen=KEPT_REQUESTS)
        self.raw: deque[bytes] = deque(maxlen=KEPT_REQUESTS)
        prefix = prefix.rstrip("/") + ("/v2" if key is not None else "")
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/tx_sign_request", self._tx, methods=["POST"]),
                Route(f"{prefix}/config_change_sign_request", self._config_change, methods=["POST"]),
            ]
        )

    @property
    def public_key(self) -> str:
        """The PEM the co-signer is configured with for this handler (public-key mode)."""
        if self.key is None:
            raise ValueError("this handler answers plain JSON (certificate mode); it has no signing key")
        return public_key_pem(self.key)

    def trust(self, cosigner_public_key: str) -> None:
        """Accept requests signed by another co-signer (one per node that uses this handler)."""
        self.cosigner_keys.append(load_public_key_pem(cosigner_public_key, what="a co-signer public key"))

    # -- decisions --

    def decide(self, body: dict[str, Any], *, kind: str = "tx") -> dict[str, Any]:
        """The answer object for one request, counting it as an attempt when the rules read the count
        (`retry_first`): a handler that answers every attempt alike keeps no id of its requests."""
        request_id = str(body.get("requestId") or body.get("txId") or "")
        rules = self.rules
        attempt = self.attempts.add(request_id) if rules.retry_first > 0 else 1
        action, reason = rules.action, ""
        if rules.fault == "reject":
            action, reason = "REJECT", "rejected by an injected fault"
        elif rules.fault == "retry" or attempt <= rules.retry_first:
            action = "RETRY"
        elif (
            kind == "tx" and rules.reject_above_usd is not None and amount_usd(body) > rules.reject_above_usd
        ):
            action = "REJECT"
            reason = f"amount {amount_usd(body):g} USD is above the limit of {rules.reject_above_usd:g} USD"
        elif action == "REJECT":
            reason = "rejected by the handler's default rule"
        answer: dict[str, Any] = {"action": action, "requestId": request_id}
        if reason:
            answer["rejectionReason"] = reason
        return answer

    # -- HTTP --

    async def _tx(self, request: Request) -> Response:
        return await self._handle(request, "tx")

    async def _config_change(self, request: Request) -> Response:
        return await self._handle(request, "config_change")

    async def _handle(self, request: Request, kind: str) -> Response:
        raw = await request.body()
        self.raw.append(raw)
        if self.rules.latency:
            await self._sleep(self.rules.latency)
        fault = self.rules.fault
        if fault == "timeout":
            await self._sleep(self.rules.hang)
        if fault == "down":
            return PlainTextResponse("service unavailable", status_code=503)
        if fault == "error":
            return PlainTextResponse("internal error", status_code=500)
        try:
            body = self._read(raw)
        except ValueError as exc:
            return PlainTextResponse(str(exc), status_code=401 if self.key is not None else 400)
        self.seen.append((request.scope["path"], body))  # the path as served (no URL object built)
        answer = self.decide(body, kind=kind)
        if fault == "garbage":
            return PlainTextResponse("<html>not an answer</html>")
        if self.key is None:
            return JSONResponse(answer)
        signer = self.key
        if fault == "wrong-key":
            if self._wrong_key is None:
                raise ValueError("the wrong-key fault needs `wrong_key` at construction")
            signer = self._wrong_key
        token = jwt.encode(answer, signer, algorithm="RS256", headers={"kid": self._thumbprint(signer)})
        if fault == "bad-signature":
            head, payload, signature = token.split(".")
            token = ".".join(
                [head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")]
            )
        return PlainTextResponse(token)

    def verified(self, raw: bytes) -> dict[str, Any]:
        """A request body as this handler reads it (a JWT checked against the trusted co-signer keys, or
        JSON without a key); `ValueError` saying why it is refused."""
        return self._read(raw)

    def _read(self, raw: bytes) -> dict[str, Any]:
        if self.key is None:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"request is not JSON: {exc}") from None
        else:
            # the body's bytes as they came (PyJWT takes bytes; a str would be encoded back): a byte that
            # is not base64url fails the JWT's own checks, as the replacement character would
            token = raw.strip()
            body = None
            if not self.cosigner_keys:  # development mode: nobody to check the signature against
                body = jwt.decode(token, options={"verify_signature": False})
            for key in self._keys_for(token):
                try:
                    body = jws.decode(token, key, algorithms=_RS256, options=_REQUEST_CHECKS)
                    break
                except jwt.PyJWTError:
                    continue
            if body is None:
                raise ValueError("request JWT is not signed by a known co-signer key")
        if not isinstance(body, dict):
            raise ValueError("request body is not an object")
        return body

    def _keys_for(self, token: bytes) -> Sequence[rsa.RSAPublicKey]:
        """The trusted keys, the one the token's `kid` names first (each failed try is a full RS256 check).

        The order is worked out once per JWT header (a co-signer sends the same header every time) and
        per set of trusted keys (`trust` adds one; the list is public and may be replaced)."""
        keys = self.cosigner_keys
        if len(keys) < 2:
            return tuple(keys)
        head = token.split(b".", 1)[0]
        trusted = tuple(map(id, keys))
        known = self._key_orders.get(head)
        if known is not None and known[0] == trusted:  # the entry holds the keys: their ids stay theirs
            return known[1]
        kid = _kid_hint(head)
        ordered = tuple(keys if kid is None else sorted(keys, key=lambda key: self._thumbprint(key) != kid))
        if len(self._key_orders) >= KEY_ORDERS:
            self._key_orders.pop(next(iter(self._key_orders)))  # the oldest header goes first
        self._key_orders[head] = (trusted, ordered)
        return ordered

    def _thumbprint(self, key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> str:
        """A key's RFC 7638 thumbprint, computed once per key (the handler signs every answer with one)."""
        known = self._thumbprints.get(id(key))
        if known is None or known[0] is not key:
            known = self._thumbprints[id(key)] = (key, thumbprint(key))
        return known[1]


def _kid_hint(head: bytes) -> str | None:
    """The `kid` in a compact JWT's header segment, if it plainly has one; only orders the keys to try."""
    try:
        header = json.loads(base64.urlsafe_b64decode(head + b"=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


async def serve(
    app: Any,
    bind: str,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    shutdown: Callable[[], Awaitable[None]] | None = None,
    task_status: Any = None,
) -> None:
    """Serve `app` over HTTP(S) with hypercorn on trio (runtime mode: `callback serve`).

    `task_status.started(urls)` reports the bound URLs (port 0 picks a free port).
    """
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    config = Config()
    config.bind = [bind]
    config.certfile = certfile
    config.keyfile = keyfile
    config.accesslog = None
    config.errorlog = None
    await hypercorn_serve(
        app, config, shutdown_trigger=shutdown, task_status=task_status or trio.TASK_STATUS_IGNORED
    )
