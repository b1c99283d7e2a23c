"""The callback client: ask an API user's handler whether to sign, as the product does.

Three modes per API user (`CallbackSettings.mode`):

- **none**: no handler; every request is approved.
- **public_key**: the request body is a compact RS256 JWT signed with the node's key (the one
  `print-public-key` shows, named by its RFC 7638 thumbprint in `kid`); the handler answers HTTP 200 with
  a JWT signed by its own RSA key, which the node verifies with the public key configured for that API
  user. Paths `/v2/tx_sign_request` and `/v2/config_change_sign_request` under the configured URL.
- **certificate**: plain JSON both ways over TLS pinned to the handler's certificate; the same paths
  without `/v2`.

Where the handler lives: over the network (httpx), or in-process, registered in a `HandlerDirectory`
under its URL: any ASGI application (served through httpx's in-process ASGI transport, with exactly the
JWT or JSON encoding above, so a user's Starlette or FastAPI handler runs in virtual time), or a plain
Python callable taking the request dict and returning the response dict. An in-process handler can
present a certificate, which the client checks against the pin as a TLS handshake would.

Each attempt has a deadline (30 s by default). APPROVE and REJECT end the request; RETRY sends the
identical request again on the retry schedule (20 retries, 3 minutes apart, by default); IGNORE is
accepted for approvals (configuration changes) only. Anything else fails the request with a
`CallbackFailure` whose `kind` says what went wrong: TIMEOUT, HTTP_STATUS, MALFORMED, BAD_SIGNATURE,
WRONG_KEY, PIN_MISMATCH, UNREACHABLE, NOT_ALLOWED, RETRY_EXHAUSTED, DEADLINE, REQUEST_ID_MISMATCH (the answer
echoes another request's id), HANDLER_ERROR (a Python
handler raised, `SystemExit` included). A failing handler is a failing request, never a failing run: an
exception in an ASGI app is that request's HTTP 500. Every request, answer and failure is a trace event.

An in-process handler may carry a `delay` (its configured latency and jitter, drawn per attempt and slept
in virtual time inside the answer deadline), and an asyncio ASGI app is served by an `AsyncioAsgiHost` on
its own event loop (node/asgi_host.py), blocking the simulation's loop so that its wall time costs no
virtual time.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import inspect
import json
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from cosigner_ha.env import Environment, scopes
from cosigner_ha.node import jws
from cosigner_ha.node.asgi_host import AsyncioAsgiHost, HandlerTimeout
from cosigner_ha.node.errors import NodeError
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import load_public_key_pem, thumbprint
from cosigner_ha.wire import CALLBACK_FAILURES

if TYPE_CHECKING:
    from jwt.types import Options  # PyJWT 2.10+; only its type is needed here

ACTIONS = ("APPROVE", "REJECT", "RETRY", "IGNORE")
RequestKind = Literal["tx", "config_change"]
PATHS: dict[RequestKind, str] = {"tx": "tx_sign_request", "config_change": "config_change_sign_request"}

HandlerFunction = Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


class CallbackFailure(NodeError):
    """The request failed; `kind` is the stable reason code (one of `wire.CALLBACK_FAILURES`, which the
    SaaS turns into the transaction's sub-status and cause), the message the details."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in CALLBACK_FAILURES:
            raise ValueError(f"callback failure kind {kind!r} is not one of wire.CALLBACK_FAILURES")
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.detail = message


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackDecision:
    action: str  # APPROVE | REJECT | IGNORE
    reason: str
    attempts: int


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """The answer deadline and the RETRY schedule (DESIGN.md section 2 defaults)."""

    deadline: float = 30.0
    retry_interval: float = 180.0
    max_retries: int = 20


@dataclasses.dataclass(frozen=True)
class InProcessHandler:
    """A handler served inside this process: an ASGI `app` (on this loop), an asyncio ASGI app on its own
    loop (`host`) or a `function`, optionally presenting a TLS `certificate` (PEM) to be checked against the
    pin; `delay()` is drawn before each answer (seconds of virtual time)."""

    app: Any = None
    function: HandlerFunction | None = None
    certificate: str = ""
    host: AsyncioAsgiHost | None = None
    delay: Callable[[], float] | None = None
    available: Callable[[], bool] | None = None  # False while its site is down (a site outage)

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.app, self.function, self.host)) != 1:
            raise ValueError(
                "an in-process handler is one of an ASGI app, a hosted asyncio ASGI app or a function"
            )


class HandlerDirectory:
    """In-process handlers by base URL (scheme and host; any path prefix below it is the handler's)."""

    def __init__(self) -> None:
        self._handlers: dict[str, InProcessHandler] = {}

    def register(self, url: str, handler: InProcessHandler) -> None:
        self._handlers[_origin(url)] = handler

    def lookup(self, url: str) -> InProcessHandler | None:
        return self._handlers.get(_origin(url))


def certificate_fingerprint(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return "sha256:" + hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def check_settings(settings: CallbackSettings) -> None:
    """Refuse settings the client could never use, before they are stored (`ValueError`, saying why)."""
    if not settings.url:
        if settings.public_key or settings.certificate:
            raise ValueError("callback settings name a key or certificate but no URL")
        return
    try:
        parts = urlsplit(settings.url)
        _port = parts.port  # a bracket left open, a port out of range: ValueError
    except ValueError as exc:
        raise ValueError(f"callback URL {settings.url[:200]!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"callback URL {settings.url[:200]!r} is not an http(s) URL with a host")
    if settings.public_key and settings.certificate:
        raise ValueError("callback settings name both a public key and a certificate: choose one mode")
    if settings.certificate:
        try:
            certificate_fingerprint(settings.certificate)
        except ValueError as exc:
            raise ValueError(f"callback certificate is not a PEM X.509 certificate: {exc}") from None
        if parts.scheme != "https":
            raise ValueError("certificate pinning needs an https URL")
    else:
        load_public_key_pem(settings.public_key, what="the callback handler's public key")


class CallbackClient:
    """Sends signing and configuration-change requests to API users' handlers."""

    def __init__(
        self,
        env: Environment,
        *,
        node: str,
        signing_key: Callable[[], rsa.RSAPrivateKey],
        directory: HandlerDirectory | None = None,
        network: bool = False,
        policy: CallbackPolicy | None = None,
        log: Callable[[str, str, str], None] | None = None,
        require_echo: bool = False,
    ) -> None:
        self.env = env
        self.require_echo = require_echo  # an answer without requestId fails too (`callback check`)
        self.node = node
        self._signing_key = signing_key
        self.directory = directory or HandlerDirectory()
        self.network = network
        self.policy = policy or CallbackPolicy()
        self._log = log
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}
        #: (handler URL, path, content type) -> the in-process handler, its ASGI transport, the request URL
        #: and the request's fixed headers, encoded (Host, Content-Type): the same on every request
        self._in_process_routes: dict[tuple[str, str, str], _Route] = {}
        self._kid: tuple[rsa.RSAPrivateKey, str] | None = None  # the signing key and its thumbprint

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    # -- the public entry points --

    async def ask(
        self,
        kind: RequestKind,
        api_user: str,
        settings: CallbackSettings,
        body: Mapping[str, Any],
        *,
        deadline: float | None = None,
    ) -> CallbackDecision:
        """APPROVE / REJECT (/ IGNORE for approvals), after any RETRYs; `CallbackFailure` otherwise.

        `deadline`: wall-clock POSIX seconds after which no further retry is started.
        """
        body = dict(body)
        request_id = str(body.get("requestId") or body.get("txId") or "")
        # the fields every event of this request carries (the trace names the transaction when there is one)
        named: dict[str, Any] = {"node": self.node, "api_user": api_user, "request": request_id}
        if body.get("txId"):
            named["tx"] = str(body["txId"])
        record = self.env.trace.record

        def trace(kind: str, **fields: Any) -> None:
            record(kind, **named, **fields)

        def fail(failure: CallbackFailure, attempt: int) -> None:
            trace("callback_error", error=failure.kind, detail=failure.detail, attempt=attempt)

        if settings.mode == "none":
            trace("callback_response", action="APPROVE", reason="no handler", attempt=0)
            return CallbackDecision("APPROVE", "no callback handler configured", 0)
        path = self._path(kind, settings)
        attempt = 0
        while True:
            attempt += 1
            record("callback_request", **named, path=path, attempt=attempt)
            started = self.env.clock.now()
            try:
                action, reason = await self._attempt(kind, settings, body, request_id, path)
            except CallbackFailure as exc:
                fail(exc, attempt)
                self._say("ERROR", "sendRequest", f"{kind} request {request_id} for {api_user}: {exc}")
                raise
            latency = round(self.env.clock.now() - started, 6)
            record(
                "callback_response", **named, action=action, reason=reason, attempt=attempt, latency=latency
            )
            if action == "RETRY":
                refusal = self._retry_allowed(attempt, deadline)
                if refusal is not None:
                    fail(refusal, attempt)
                    raise refusal
                self._say(
                    "INFO",
                    "sendRequest",
                    f"{kind} request {request_id}: the handler asked to RETRY (attempt {attempt})",
                )
                await self.env.clock.sleep(self.policy.retry_interval)
                continue
            if action == "IGNORE" and kind == "tx":
                refusal = CallbackFailure(
                    "NOT_ALLOWED",
                    "the handler answered IGNORE, which is for approvals only; a signing request needs APPROVE or REJECT",
                )
                fail(refusal, attempt)
                raise refusal
            self._say(
                "INFO",
                "sendRequest",
                f"{kind} request {request_id} for {api_user}: {action} {reason}".rstrip(),
            )
            return CallbackDecision(action, reason, attempt)

    async def attempt_once(
        self, kind: RequestKind, settings: CallbackSettings, body: Mapping[str, Any]
    ) -> tuple[str, str]:
        """One attempt, no retries and no trace: (action, reason), or `CallbackFailure` (`callback check`)."""
        body = dict(body)
        return await self._attempt(kind, settings, body, str(body.get("requestId") or ""))

    async def post_raw(self, kind: RequestKind, settings: CallbackSettings, content: bytes) -> int:
        """POST `content` as it is (a malformed body, say); the HTTP status, or `CallbackFailure`."""
        handler = self.directory.lookup(settings.url)
        if handler is not None and handler.function is not None:
            raise CallbackFailure("NOT_ALLOWED", "a Python handler takes a dict, not a request body")
        status, _ = await self._post(settings, self._path(kind, settings), content, handler)
        return status

    def _retry_allowed(self, attempt: int, deadline: float | None) -> CallbackFailure | None:
        if attempt > self.policy.max_retries:
            return CallbackFailure(
                "RETRY_EXHAUSTED",
                f"the handler answered RETRY {attempt} times; the limit is {self.policy.max_retries} retries",
            )
        if deadline is not None and self.env.clock.wall() + self.policy.retry_interval > deadline:
            return CallbackFailure(
                "DEADLINE",
                "the handler answered RETRY and the next attempt would start after the request's deadline",
            )
        return None

    # -- one attempt --

    @staticmethod
    def _path(kind: RequestKind, settings: CallbackSettings) -> str:
        return _request_path(kind, settings.url, settings.mode == "public_key")

    async def _attempt(
        self,
        kind: RequestKind,
        settings: CallbackSettings,
        body: dict[str, Any],
        request_id: str,
        path: str | None = None,
    ) -> tuple[str, str]:
        handler = self.directory.lookup(settings.url)
        if handler is not None and handler.available is not None and not handler.available():
            raise CallbackFailure("UNREACHABLE", f"cannot connect to {settings.url}: its site is down")
        if handler is not None and settings.mode == "certificate":
            self._check_presented_pin(handler, settings)
        if handler is not None and handler.function is not None:
            answer = await self._call_function(handler, handler.function, body)
            return self._check_answer(answer, request_id)
        if handler is None and not self.network:
            raise CallbackFailure(
                "UNREACHABLE",
                f"no in-process handler is registered for {settings.url} and this node has no network access",
            )
        content = self._encode(settings, body)
        status, answered = await self._post(settings, path or self._path(kind, settings), content, handler)
        if status != 200:
            text = answered[:320].decode(errors="replace")[:80]
            raise CallbackFailure(
                "HTTP_STATUS", f"the handler answered HTTP {status}, expected 200 ({text!r})"
            )
        if settings.mode == "public_key":
            # the body's bytes as they came: a JWT is ASCII, and PyJWT takes bytes (no charset decoding)
            return self._check_answer(self._verify_jwt(settings, answered), request_id)
        try:
            answer = json.loads(answered)
        except ValueError as exc:
            raise CallbackFailure("MALFORMED", f"the handler's answer is not JSON: {exc}") from None
        return self._check_answer(answer, request_id)

    def _encode(self, settings: CallbackSettings, body: dict[str, Any]) -> bytes:
        if settings.mode == "public_key":
            key = self._signing_key()
            if self._kid is None or self._kid[0] is not key:
                self._kid = (key, thumbprint(key))
            return jwt.encode(body, key, algorithm="RS256", headers={"kid": self._kid[1]}).encode()
        return json.dumps(body, separators=(",", ":")).encode()

    async def _call_function(
        self, handler: InProcessHandler, function: HandlerFunction, body: dict[str, Any]
    ) -> Any:
        with scopes.move_on_after(self.policy.deadline) as scope:
            await self._delay(handler)
            try:
                answer = function(copy.deepcopy(body))
                if inspect.isawaitable(answer):
                    answer = await answer
            except (Exception, SystemExit) as exc:
                raise CallbackFailure("HANDLER_ERROR", f"the handler raised {_describe(exc)}") from None
            return answer
        assert scope.cancelled_caught
        raise CallbackFailure("TIMEOUT", f"the handler did not answer within {self.policy.deadline:g} s")

    async def _delay(self, handler: InProcessHandler | None) -> None:
        if handler is not None and handler.delay is not None:
            seconds = handler.delay()
            if seconds > 0:
                await self.env.clock.sleep(seconds)

    def _hosted(
        self, host: AsyncioAsgiHost, path: str, content: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request to an asyncio app on its own loop; this loop (and virtual time) waits for it."""
        try:
            return host.request(path, content, headers, timeout=self.policy.deadline)
        except HandlerTimeout as exc:
            raise CallbackFailure("TIMEOUT", str(exc)) from None

    async def _post(
        self, settings: CallbackSettings, path: str, content: bytes, handler: InProcessHandler | None
    ) -> tuple[int, bytes]:
        """POST `content` to the handler within the answer deadline: (HTTP status, the answer's body)."""
        content_type = "text/plain" if settings.mode == "public_key" else "application/json"
        with scopes.move_on_after(self.policy.deadline) as scope:
            await self._delay(handler)
            if handler is not None and handler.host is not None:
                return self._hosted(handler.host, path, content, {"content-type": content_type})
            try:
                if handler is not None:  # an ASGI app on this loop: straight to its httpx transport
                    return await self._in_process(settings, handler, path, content, content_type)
                client = self._client(settings)
                response = await client.post(path, content=content, headers={"content-type": content_type})
            except httpx.ConnectError as exc:
                if _is_certificate_error(exc):
                    raise CallbackFailure(
                        "PIN_MISMATCH",
                        f"the TLS certificate {settings.url} presented is not the pinned one "
                        f"({certificate_fingerprint(settings.certificate)}): {exc}",
                    ) from None
                raise CallbackFailure("UNREACHABLE", f"cannot connect to {settings.url}: {exc}") from None
            except httpx.HTTPError as exc:
                raise CallbackFailure("UNREACHABLE", f"{settings.url}: {type(exc).__name__}: {exc}") from None
            if settings.mode == "certificate":  # over the network: the pin is checked on the connection
                self._check_network_pin(response, settings)
            return response.status_code, response.content
        assert scope.cancelled_caught
        raise CallbackFailure("TIMEOUT", f"the handler did not answer within {self.policy.deadline:g} s")

    async def _in_process(
        self,
        settings: CallbackSettings,
        handler: InProcessHandler,
        path: str,
        content: bytes,
        content_type: str,
    ) -> tuple[int, bytes]:
        """One request through httpx's ASGI transport, without the client's per-request machinery (URL
        merging, cookies, auth and redirect handling: none of which an in-process handler has), which
        cost more than the transport and the Starlette app together; the answer's body is read straight
        from the transport's stream (one joined chunk), without `Response.aread`'s decoders and
        bookkeeping (a third of the transport's cost), the status and body being all the client reads."""
        key = (settings.url, path, content_type)
        known = self._in_process_routes.get(key)
        if known is None or known[0] is not handler:
            parts = urlsplit(settings.url)
            url = httpx.URL(f"{parts.scheme}://{parts.netloc}{path}")
            # an exception in the app is that request's HTTP 500, as a server would answer
            transport = httpx.ASGITransport(app=handler.app, raise_app_exceptions=False)
            known = (
                handler,
                transport,
                url,
                ((b"Host", url.netloc), (b"content-type", content_type.encode())),
            )
            self._in_process_routes[key] = known
        _, transport, url, fixed = known
        # the headers `Request(content=...)` would add (Host first, Content-Length after the caller's),
        # given whole with the body as its stream: httpx then skips re-deriving them on every request
        raw = [*fixed, (b"Content-Length", str(len(content)).encode())]
        request = httpx.Request("POST", url, headers=raw, stream=httpx.ByteStream(content))
        response = await transport.handle_async_request(request)
        if "content-encoding" in response.headers:  # compressed by the app: httpx's decoders undo it
            await response.aread()
            return response.status_code, response.content
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        body = b"".join([chunk async for chunk in stream])
        await stream.aclose()
        return response.status_code, body

    def _client(self, settings: CallbackSettings) -> httpx.AsyncClient:
        parts = urlsplit(settings.url)
        base = f"{parts.scheme}://{parts.netloc}"
        cache_key = (base, settings.certificate)
        client = self._clients.get(cache_key)
        if client is None:
            if settings.mode == "certificate":
                context = ssl.create_default_context(cadata=settings.certificate)
                context.check_hostname = False  # the pin replaces name checks, as the product's pinning does
                client = httpx.AsyncClient(base_url=base, verify=context, trust_env=False)
            else:
                client = httpx.AsyncClient(base_url=base, trust_env=False)
            self._clients[cache_key] = client
        return client

    @staticmethod
    def _check_presented_pin(handler: InProcessHandler, settings: CallbackSettings) -> None:
        pinned = certificate_fingerprint(settings.certificate)
        if not handler.certificate:
            raise CallbackFailure("PIN_MISMATCH", f"the handler presented no certificate; pinned {pinned}")
        presented = certificate_fingerprint(handler.certificate)
        if presented != pinned:
            raise CallbackFailure(
                "PIN_MISMATCH",
                f"the handler presented certificate {presented}, the pinned certificate is {pinned}",
            )

    @staticmethod
    def _check_network_pin(response: httpx.Response, settings: CallbackSettings) -> None:
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        if ssl_object is None:
            raise CallbackFailure(
                "PIN_MISMATCH", f"{settings.url} did not speak TLS; the certificate is pinned"
            )
        der = ssl_object.getpeercert(binary_form=True) or b""
        presented = "sha256:" + hashlib.sha256(der).hexdigest()
        pinned = certificate_fingerprint(settings.certificate)
        if presented != pinned:
            raise CallbackFailure(
                "PIN_MISMATCH",
                f"the handler presented certificate {presented}, the pinned certificate is {pinned}",
            )

    @staticmethod
    def _verify_jwt(settings: CallbackSettings, token: bytes | str) -> Any:
        key, kid = _handler_key(settings.public_key)
        token = token.strip()
        try:  # the common case in one pass: it verifies under the configured key and names no other
            checked = jws.decode_complete(token, key, algorithms=["RS256"], options=_JWT_OPTIONS)
        except jwt.PyJWTError:
            checked = None
        if checked is not None and checked["header"].get("kid") in (None, kid):
            return checked["payload"]
        # otherwise say exactly what is wrong: the header, the algorithm, the key it names, the signature
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise CallbackFailure("MALFORMED", f"the handler's answer is not a JWT: {exc}") from None
        if header.get("alg") != "RS256":
            raise CallbackFailure(
                "WRONG_KEY",
                f"the answer is signed with {header.get('alg')!r}; the handler key configured for this API user "
                "is an RSA key (RS256)",
            )
        named = header.get("kid")
        if named is not None and named != kid:
            raise CallbackFailure(
                "WRONG_KEY",
                f"the answer is signed with key {named}, not with the handler key configured for this API user "
                f"({kid})",
            )
        try:
            return jws.decode(token, key, algorithms=["RS256"], options=_JWT_OPTIONS)
        except jwt.InvalidSignatureError:
            raise CallbackFailure(
                "BAD_SIGNATURE",
                "the answer's JWT signature does not verify with the handler key configured for this API user",
            ) from None
        except jwt.PyJWTError as exc:
            raise CallbackFailure("MALFORMED", f"the handler's JWT is malformed: {exc}") from None

    def _check_answer(self, answer: Any, request_id: str) -> tuple[str, str]:
        if not isinstance(answer, dict):
            raise CallbackFailure("MALFORMED", f"the answer is a {type(answer).__name__}, expected an object")
        action = answer.get("action")
        if action not in ACTIONS:
            raise CallbackFailure(
                "MALFORMED", f"the answer's action is {action!r}, expected one of {', '.join(ACTIONS)}"
            )
        echoed = answer.get("requestId")
        if echoed is None and self.require_echo:
            raise CallbackFailure("REQUEST_ID_MISMATCH", f"the answer does not echo requestId {request_id!r}")
        if echoed is not None and str(echoed) != request_id:
            raise CallbackFailure(
                "REQUEST_ID_MISMATCH", f"the answer is for request {echoed!r}, not {request_id!r}"
            )
        reason = answer.get("rejectionReason") or ""
        if not isinstance(reason, str):
            raise CallbackFailure(
                "MALFORMED", f"rejectionReason is a {type(reason).__name__}, expected a string"
            )
        return str(action), reason

    # -- log --

    def _say(self, level: str, method: str, message: str) -> None:
        if self._log is not None:
            self._log(level, method, message)


#: An in-process route: the handler, its ASGI transport, the request URL and the request's fixed headers.
_Route = tuple[InProcessHandler, httpx.ASGITransport, httpx.URL, tuple[tuple[bytes, bytes], ...]]

_JWT_OPTIONS: Options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False}


@functools.lru_cache(maxsize=64)
def _handler_key(pem: str) -> tuple[rsa.RSAPublicKey, str]:
    """A handler's configured public key and its thumbprint, parsed once per PEM."""
    key = load_public_key_pem(pem, what="the callback handler's public key")
    return key, thumbprint(key)


@functools.lru_cache(maxsize=256)
def _origin(url: str) -> str:
    """A handler URL's scheme and host, lower-cased: the directory's key (the same few URLs every time)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@functools.lru_cache(maxsize=256)
def _request_path(kind: RequestKind, url: str, public_key: bool) -> str:
    """The path a request of `kind` is POSTed to under the handler's URL, worked out once per URL."""
    base = urlsplit(url).path.rstrip("/")
    return f"{base}/v2/{PATHS[kind]}" if public_key else f"{base}/{PATHS[kind]}"


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r})"
    return f"{type(error).__name__}: {error}"


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
