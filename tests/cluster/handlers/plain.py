"""Small handlers the scenario tests import by "module:attribute": each shows one way a user's code fails
or behaves, and none knows about the simulator."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

#: The handlers' own key: answers are JWTs signed with it; tests configure `public_key` from `PUBLIC_PEM`.
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def signed_answer(body: bytes) -> bytes:
    request = jwt.decode(body, options={"verify_signature": False})
    return jwt.encode(
        {"action": "APPROVE", "requestId": request["requestId"]}, KEY, algorithm="RS256"
    ).encode()


def approve(body: dict[str, Any]) -> dict[str, Any]:
    return {"action": "APPROVE", "requestId": body["requestId"]}


def raises(body: dict[str, Any]) -> dict[str, Any]:
    raise KeyError("riskScore")


def exits(body: dict[str, Any]) -> dict[str, Any]:
    raise SystemExit(3)


NOT_CALLABLE = {"action": "APPROVE"}


def not_asgi(scope: Any) -> None:  # a plain function, not an ASGI app
    return None


async def _boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("database is down")


#: A Starlette app whose endpoint raises: each request is an HTTP 500, the run goes on.
failing_app = Starlette(routes=[Route("/v2/tx_sign_request", _boom, methods=["POST"])])


async def _slow_on_the_wall(request: Request) -> PlainTextResponse:
    await asyncio.sleep(0.01)  # asyncio only
    time.sleep(0.01)  # wall time the virtual clock must not see
    return PlainTextResponse(signed_answer(await request.body()))


slow_on_the_wall = Starlette(routes=[Route("/v2/tx_sign_request", _slow_on_the_wall, methods=["POST"])])


async def _failing_startup(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "lifespan"
    await receive()
    raise RuntimeError("cannot load plugins from /etc/handler/plugins")


failing_startup = _failing_startup


async def exiting_startup(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    raise SystemExit("missing HANDLER_KEY")


async def failing_shutdown(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "could not flush the audit log"})
        return
    message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": signed_answer(message.get("body", b""))})


#: What `recording` was asked, in order (tests clear it before a run).
RECORDED: list[dict[str, Any]] = []


def recording(body: dict[str, Any]) -> dict[str, Any]:
    """RETRY the first attempt of each request, then APPROVE; every request it sees is kept."""
    RECORDED.append(body)
    first = sum(1 for b in RECORDED if b["requestId"] == body["requestId"]) == 1
    return {"action": "RETRY" if first else "APPROVE", "requestId": body["requestId"]}


def wrong_echo(body: dict[str, Any]) -> dict[str, Any]:
    return {"action": "APPROVE", "requestId": body["txId"]}


def garbage(body: dict[str, Any]) -> dict[str, Any]:
    """An answer that is no decision: the node refuses it as MALFORMED."""
    return {"action": "MAYBE", "requestId": body["requestId"]}


async def _approving(request: Request) -> PlainTextResponse:
    return PlainTextResponse(signed_answer(await request.body()))


#: APPROVEs everything, signed with `KEY`: configured with another public key, its signature does not verify.
approving_app = Starlette(routes=[Route("/v2/tx_sign_request", _approving, methods=["POST"])])

#: A public key that is not `KEY`'s: nodes configured with it refuse `approving_app`'s answers.
OTHER_PUBLIC_PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
