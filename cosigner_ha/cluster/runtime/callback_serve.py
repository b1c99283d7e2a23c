"""`cosigner-ha callback serve SCENARIO --handler NAME`: a scenario's scripted callback handler as a process.

The same `ReferenceHandler` the simulation runs for `[callbacks.NAME]` (action, latency and jitter,
reject-above, retry-first-n, timeout-first-n, its own `private_key`), served so that runtime nodes reach it
with `url` callbacks, in one of the two modes of DESIGN.md:

- with `--cert`/`--tls-key`: HTTPS, plain JSON both ways; the nodes pin this certificate;
- without: public-key mode, the requests and answers are RS256 JWTs (the handler signs with its key, the
  nodes check it with its public key); plain HTTP, so only on a loopback address.

A control API (plain HTTP, loopback) is how a launcher applies callback faults:

    POST /fault {"mode": "timeout"|"reject"|"retry"|"down"|"error"|... or null}   (null: healthy again)
    POST /latency {"seconds": s}      POST /trust {"public_key": PEM}   (a node's request key)   GET /health

A user's own handler (`asgi`, `python`) is served the same way by `user_handler.UserHandlerProcess`.

Latencies are divided by `--time-scale`. Once both listen it writes `STATE/ready.json` (`pid`, `url`,
`control`, `public_key` in public-key mode); events go to `STATE/trace.jsonl`. Exit 2: no such scripted
handler, plain HTTP on a non-loopback address, a missing certificate, a port in use.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from hypercorn.utils import LifespanFailureError, LifespanTimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosigner_ha.cluster.grouped import first_of
from cosigner_ha.cluster.runtime.http_services import HttpServers, run_service
from cosigner_ha.cluster.runtime.trace_merge import record_started
from cosigner_ha.cluster.runtime.user_handler import UserHandlerProcess
from cosigner_ha.cluster.scenario import (
    AsgiCallback,
    PythonCallback,
    ScenarioError,
    ScriptedCallback,
    UrlCallback,
    load_scenario,
)
from cosigner_ha.cluster.world_handlers import SilentFirstAttempts
from cosigner_ha.env import Environment, OsCrypto
from cosigner_ha.env.files import write_text_atomic
from cosigner_ha.handler.reference import FAULTS, HandlerRules, ReferenceHandler
from cosigner_ha.node.rsa_keys import generate_rsa_key, load_private_key_pem

READY_FILE, TRACE_FILE = "ready.json", "trace.jsonl"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The scripted-handler options of `callback serve` (the reference handler's are in commands_node)."""
    p.add_argument("scenario", nargs="?", type=Path, help="serve this scenario's scripted handler --handler")
    p.add_argument("--handler", help="the [callbacks.NAME] to serve (with SCENARIO)")
    p.add_argument(
        "--state", type=Path, help="with SCENARIO: ready file and trace (default: ./callback-NAME)"
    )
    p.add_argument("--control", default="127.0.0.1:0", metavar="HOST:PORT", help="with SCENARIO: control API")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="N", help="divide latencies by N")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ScriptedHandlerProcess:
    def __init__(self, env: Environment, spec: ScriptedCallback, *, tls: bool, time_scale: float) -> None:
        self.env = env
        self.spec = spec
        self.time_scale = time_scale
        if tls:
            key = None  # certificate mode: plain JSON over the pinned TLS connection
        elif spec.private_key is not None:
            key = load_private_key_pem(spec.private_key.pem.encode(), what=str(spec.private_key.path))
        else:
            key = generate_rsa_key(OsCrypto().randbytes)
        jitter = random.Random(OsCrypto().randbytes(16))

        async def sleep(seconds: float) -> None:
            extra = jitter.uniform(0, spec.jitter / time_scale) if spec.jitter else 0.0
            await anyio.sleep(seconds + extra)

        self.rules = HandlerRules(
            action=str(spec.action),
            latency=spec.latency / time_scale,
            reject_above_usd=spec.reject_above_usd,
            retry_first=spec.retry_first_n,
        )
        self.handler = ReferenceHandler(self.rules, key=key, sleep=sleep)
        self.app: Any = self.handler.app
        if spec.timeout_first_n:
            self.app = SilentFirstAttempts(self.app, spec.timeout_first_n, anyio.sleep, hang=self.rules.hang)

    @property
    def public_key(self) -> str | None:
        return self.handler.public_key if self.handler.key is not None else None

    def control_app(self) -> Starlette:
        async def body_of(request: Request) -> dict[str, Any]:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body: expected a JSON object")
            return body

        def bad(message: str) -> JSONResponse:
            return JSONResponse({"error": "BAD_REQUEST", "message": message}, status_code=400)

        async def fault(request: Request) -> Response:
            try:
                mode = (await body_of(request)).get("mode")
            except ValueError as exc:
                return bad(str(exc))
            if mode is not None and mode not in FAULTS:
                return bad(f"body.mode: {mode!r}; expected one of {', '.join(FAULTS)} or null")
            self.rules.fault = mode
            self.env.trace.record("callback_fault_set", handler=self.spec.name, mode=mode)
            return JSONResponse({"mode": mode})

        async def latency(request: Request) -> Response:
            try:
                seconds = (await body_of(request)).get("seconds")
            except ValueError as exc:
                return bad(str(exc))
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                return bad(f"body.seconds: expected seconds >= 0, got {seconds!r}")
            self.rules.latency = float(seconds)
            self.env.trace.record("callback_latency_set", handler=self.spec.name, seconds=float(seconds))
            return JSONResponse({"seconds": float(seconds)})

        async def trust(request: Request) -> Response:
            try:
                self.handler.trust(str((await body_of(request)).get("public_key", "")))
            except ValueError as exc:
                return bad(f"body.public_key: {exc}")
            return JSONResponse({"trusted": len(self.handler.cosigner_keys)})

        async def health(request: Request) -> Response:
            answered = len(self.handler.seen)
            return JSONResponse({"ok": True, "fault": self.rules.fault, "requests": answered})

        return Starlette(
            routes=[
                Route("/health", health, methods=["GET"]),
                Route("/fault", fault, methods=["POST"]),
                Route("/latency", latency, methods=["POST"]),
                Route("/trust", trust, methods=["POST"]),
            ]
        )


async def serve(args: argparse.Namespace, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    if not args.handler:
        raise ValueError(
            "callback serve SCENARIO: --handler NAME is required (a [callbacks.NAME] of the file)"
        )
    if not args.time_scale > 0:
        raise ValueError(f"--time-scale {args.time_scale}: expected a number above 0")
    scenario = load_scenario(args.scenario)
    names = [c.name for c in scenario.callbacks]
    spec = next((c for c in scenario.callbacks if c.name == args.handler), None)
    if spec is None:
        raise ValueError(
            f"--handler {args.handler!r}: {args.scenario} has callbacks {', '.join(names) or 'none'}"
        )
    if isinstance(spec, UrlCallback):
        raise ValueError(
            f"--handler {args.handler!r}: a url handler ({spec.url}); it is served where that URL points"
        )
    tls = bool(args.cert or args.tls_key)
    cert = key = None
    if tls:
        cert, key = Path(args.cert or ""), Path(args.tls_key or "")
        for path, flag in ((cert, "--cert"), (key, "--tls-key")):
            if not path.is_file():
                raise ValueError(f"{flag} {path}: no such file (HTTPS needs both --cert and --tls-key)")
    host = args.bind.rpartition(":")[0]
    if not tls and not _loopback(host):
        raise ValueError(
            f"--listen {args.bind}: plain HTTP only on a loopback address; give --cert and --tls-key"
        )
    state: Path = args.state or Path(f"callback-{spec.name}")
    state.mkdir(parents=True, exist_ok=True)
    (state / READY_FILE).unlink(missing_ok=True)
    with (state / TRACE_FILE).open("a", buffering=1) as sink:
        env = Environment.runtime(header={"role": "callback", "pid": os.getpid()}, sink=sink)
        record_started(env, "callback", spec.name)
        process: ScriptedHandlerProcess | UserHandlerProcess
        if isinstance(spec, AsgiCallback | PythonCallback):
            process = UserHandlerProcess(env, spec, state, tls=tls, time_scale=args.time_scale)
        else:
            process = ScriptedHandlerProcess(env, spec, tls=tls, time_scale=args.time_scale)
        try:  # hypercorn runs a user app's lifespan startup before it serves (on asyncio, once it listens)
            async with anyio.create_task_group() as tasks:
                servers = HttpServers(tasks)
                urls = await servers.start(process.app, args.bind, certfile=cert, keyfile=key)
                control = await servers.start(process.control_app(), args.control)
                ready = {
                    "pid": os.getpid(),
                    "url": urls[0],
                    "control": control[0],
                    "public_key": process.public_key,
                }
                write_text_atomic(state / READY_FILE, json.dumps(ready) + "\n")
                mode = "HTTPS, certificate pinned" if tls else "public-key JWTs over HTTP (loopback)"
                print(
                    f"callback handler {spec.name} ready: {urls[0]} ({mode}), control {control[0]}",
                    flush=True,
                )
                task_status.started(ready)
                await servers.serve_until_signalled()
        except BaseException as exc:
            failed = first_of(exc, (LifespanFailureError, LifespanTimeoutError))
            if failed is None:
                raise
            (state / READY_FILE).unlink(missing_ok=True)
            raise ValueError(f"callback {spec.name}: its lifespan startup failed: {failed}") from None


def run(args: argparse.Namespace) -> int:
    args.loop = _loop_of(args)
    return run_service(serve, args, (ValueError, OSError, ScenarioError))


def _loop_of(args: argparse.Namespace) -> str:
    """The event loop the process runs on: an asgi handler's own (`loop`, asyncio by default), trio for
    the rest; a scenario that does not load is reported by `serve`."""
    try:
        spec = next(c for c in load_scenario(args.scenario).callbacks if c.name == args.handler)
    except (ScenarioError, OSError, ValueError, StopIteration):
        return "trio"
    return spec.loop if isinstance(spec, AsgiCallback) else "trio"
