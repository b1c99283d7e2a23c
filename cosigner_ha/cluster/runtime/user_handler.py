"""`callback serve SCENARIO --handler NAME` for a user's own handler, as its own process: `[callbacks.NAME]
asgi = "module:app"` served by hypercorn unmodified, as the user deploys it, or `python = "module:function"`
behind a small HTTP front (`FunctionApp`).

The app is imported from the handler's `path` as the simulation imports it (`world_handlers.import_target`)
and served on the event loop it was written for (`loop`, asyncio by default: the process runs on it), with
its ASGI lifespan: startup before the process says it is ready, shutdown when it is stopped. A startup
failure is exit 2 naming the handler. Its `latency` and `jitter` (divided by `--time-scale`) are slept
before each request reaches it.

Modes, as for scripted handlers: public-key mode over plain HTTP on loopback (the nodes verify the app's
answers with the scenario's `public_key`, which the ready file repeats), or HTTPS with `--cert`/`--tls-key`
(the nodes pin the certificate). The app checks the nodes' request JWTs itself, as in production: the
launcher gives it their keys through the control API (`POST /trust {"public_key", "node"}`), written to
`STATE/cosigner-keys/<node>-cosigner-public.pem` (the names `cosigner-ha keys --out` uses), the folder the
process's `COSIGNER_HA_COSIGNER_KEYS` environment variable names before the app is imported. It takes no
injected faults: user code answers what it answers (the simulation refuses such faults too).

A Python function is called with the request's claims once its JWT verifies under a trusted node key (or
the plain JSON body with `--cert`/`--tls-key`), awaited if it returns an awaitable; its answer is signed
with a key drawn at start (its public half in the ready file) or sent as JSON. An exception in it, or an
answer that is not a JSON object, is that request's HTTP 500 (`HTTP_STATUS` at the node, where the
simulation, calling the function in process, says `HANDLER_ERROR` or `MALFORMED`).
"""

from __future__ import annotations

import inspect
import json
import os
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cosigner_ha.cluster.scenario import AsgiCallback, PythonCallback
from cosigner_ha.cluster.world_handlers import WorldError, describe, import_target
from cosigner_ha.env import Environment, OsCrypto
from cosigner_ha.handler.reference import ReferenceHandler
from cosigner_ha.node.asgi_host import is_asgi_app
from cosigner_ha.node.rsa_keys import generate_rsa_key, load_public_key_pem, thumbprint

#: The environment variable naming the folder of the nodes' request keys (one PEM file per node).
KEYS_VARIABLE = "COSIGNER_HA_COSIGNER_KEYS"
KEYS_FOLDER = "cosigner-keys"


class Delayed:
    """ASGI middleware: each HTTP request waits `latency` plus a uniform draw in [0, `jitter`] seconds."""

    def __init__(self, app: Any, latency: float, jitter: float) -> None:
        self.app = app
        self.latency = latency
        self.jitter = jitter
        self._rng = random.Random(OsCrypto().randbytes(16))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            await anyio.sleep(self.latency + (self._rng.uniform(0, self.jitter) if self.jitter else 0.0))
        await self.app(scope, receive, send)


class StrictLifespan:
    """ASGI middleware holding an app's lifespan to the simulation's rules (node/asgi_host.py), which
    hypercorn's differ from: an exception once the startup message was received is a failed startup (hypercorn
    would serve on as if the app had no lifespan), and a failed shutdown is reported (`report`), not raised
    (hypercorn would end the process with a traceback)."""

    def __init__(self, app: Any, report: Callable[[str], None]) -> None:
        self.app = app
        self.report = report

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "lifespan":
            await self.app(scope, receive, send)
            return
        phase = ""
        answered: set[str] = set()

        async def received() -> Any:
            nonlocal phase
            message = await receive()
            phase = str(message.get("type", ""))
            return message

        async def sent(message: Any) -> None:
            kind = str(message.get("type", ""))
            if kind == "lifespan.shutdown.failed":
                self.report(f"the lifespan shutdown failed: {message.get('message') or 'no reason given'}")
                message = {"type": "lifespan.shutdown.complete"}
            answered.add(str(message["type"]))
            await send(message)

        try:
            await self.app(scope, received, sent)
        except (Exception, SystemExit) as exc:
            if phase == "lifespan.startup" and not answered:
                await send({"type": "lifespan.startup.failed", "message": f"it raised {describe(exc)}"})
            elif phase == "lifespan.shutdown" and "lifespan.shutdown.complete" not in answered:
                self.report(f"the lifespan shutdown raised {describe(exc)}")
                await send({"type": "lifespan.shutdown.complete"})
            elif not phase:
                raise  # an app that raises before it listens has no lifespan (as servers treat it)


class FunctionApp:
    """ASGI: a Python handler function behind the HTTP protocol the nodes speak (public-key mode with `key`,
    plain JSON without); the request checked as the reference handler checks it."""

    def __init__(self, function: Callable[[dict[str, Any]], Any], key: rsa.RSAPrivateKey | None) -> None:
        self.function = function
        self.key = key
        self.checker = ReferenceHandler(key=key)  # reads and verifies requests; trusts the nodes' keys
        prefix = "/v2" if key is not None else ""
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/{path}", self._handle, methods=["POST"])
                for path in ("tx_sign_request", "config_change_sign_request")
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        try:
            body = self.checker.verified(await request.body())
        except ValueError as exc:
            return PlainTextResponse(str(exc), status_code=401 if self.key is not None else 400)
        try:
            answer = self.function(body)
            if inspect.isawaitable(answer):
                answer = await answer
        except (Exception, SystemExit) as exc:
            return PlainTextResponse(f"the handler raised {describe(exc)}", status_code=500)
        if not isinstance(answer, dict):
            return PlainTextResponse(f"the handler answered a {type(answer).__name__}", status_code=500)
        try:
            if self.key is None:
                return JSONResponse(answer)
            kid = thumbprint(self.key)
            return PlainTextResponse(jwt.encode(answer, self.key, algorithm="RS256", headers={"kid": kid}))
        except (TypeError, ValueError) as exc:
            return PlainTextResponse(f"the handler's answer is not JSON: {exc}", status_code=500)


class UserHandlerProcess:
    """A user's handler as an ASGI `app` (latency applied) and the control API the launcher talks to."""

    def __init__(
        self,
        env: Environment,
        spec: AsgiCallback | PythonCallback,
        state: Path,
        *,
        tls: bool,
        time_scale: float,
    ) -> None:
        self.env = env
        self.spec = spec
        self.keys = state / KEYS_FOLDER
        self.keys.mkdir(parents=True, exist_ok=True)
        os.environ[KEYS_VARIABLE] = str(self.keys.resolve())
        try:
            target = import_target(spec.target, spec.name, spec.path)
        except WorldError as exc:
            raise ValueError(str(exc)) from None
        self.function: FunctionApp | None = None
        self.public_key: str | None
        if isinstance(spec, PythonCallback):
            if not callable(target):
                raise ValueError(
                    f"callback {spec.name}: {spec.target!r} is a {type(target).__name__}, not a callable; "
                    "expected a function taking the request dict and returning the response dict"
                )
            key = None if tls else generate_rsa_key(OsCrypto().randbytes)
            self.function = FunctionApp(target, key)
            self.public_key = self.function.checker.public_key if key is not None else None
            target = self.function
        else:
            if spec.public_key is None:
                raise ValueError(
                    f"callbacks.{spec.name}: an asgi handler in the runtime needs `public_key` (the key "
                    "the nodes verify its answers with)"
                )
            if not is_asgi_app(target):
                raise ValueError(
                    f"callback {spec.name}: {spec.target!r} is a {type(target).__name__}, not an ASGI app; "
                    "expected an async callable (scope, receive, send), such as a Starlette or FastAPI app"
                )
            self.public_key = spec.public_key.pem
            target = StrictLifespan(target, self._shutdown_failed)
        latency, jitter = spec.latency / time_scale, spec.jitter / time_scale
        self.app: Any = Delayed(target, latency, jitter) if latency or jitter else target

    def _shutdown_failed(self, problem: str) -> None:
        print(f"warning: callback {self.spec.name}: {problem}", file=sys.stderr, flush=True)
        self.env.trace.record("callback_shutdown_failed", handler=self.spec.name, problem=problem)

    def trust(self, pem: str, node: str) -> Path:
        """Write a node's request key where the app reads it; the file is named after the node (or, without
        one, after the key's thumbprint)."""
        key = load_public_key_pem(pem, what="a co-signer public key")
        stem = node if re.fullmatch(r"[A-Za-z0-9._-]{1,100}", node) else thumbprint(key)
        path = self.keys / f"{stem}-cosigner-public.pem"
        path.write_text(pem if pem.endswith("\n") else pem + "\n")
        if self.function is not None:
            self.function.checker.trust(pem)
        self.env.trace.record("callback_trusted", handler=self.spec.name, node=node or None)
        return path

    def control_app(self) -> Any:
        async def trust(request: Request) -> Response:
            try:
                body = json.loads(await request.body() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                path = self.trust(str(body.get("public_key", "")), str(body.get("node") or ""))
            except ValueError as exc:
                return JSONResponse({"error": "BAD_REQUEST", "message": f"body: {exc}"}, status_code=400)
            return JSONResponse({"written": str(path)})

        async def fault(request: Request) -> Response:
            message = f"callback {self.spec.name} is the user's own handler; it takes no injected fault"
            return JSONResponse({"error": "BAD_REQUEST", "message": message}, status_code=400)

        async def health(request: Request) -> Response:
            return JSONResponse({"ok": True, "fault": None, "keys": len(list(self.keys.glob("*.pem")))})

        routes = Starlette(
            routes=[
                Route("/health", health, methods=["GET"]),
                Route("/trust", trust, methods=["POST"]),
                Route("/fault", fault, methods=["POST"]),
            ]
        )

        async def app(scope: Any, receive: Any, send: Any) -> None:
            """The routes, with a lifespan that has nothing to do: when the user's app fails its startup
            on asyncio, this server is cancelled, and Starlette's lifespan would report the cancellation as a
            failed shutdown (a traceback after the clear error)."""
            if scope.get("type") != "lifespan":
                await routes(scope, receive, send)
                return
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

        return app
