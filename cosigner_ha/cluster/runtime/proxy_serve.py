"""`cosigner-ha proxy serve`: one link's `FaultProxy` as a process, with an HTTP control API, so a launcher
applies partition, latency, loss and clogging to a link of a running cluster in real time.

    POST /partition   POST /heal   POST /clog   POST /unclog
    POST /latency {"seconds": s, "jitter": j}   POST /loss {"probability": p}   GET /health

`/latency`: each chunk takes `seconds` plus a uniform draw in [0, `jitter`] (optional, 0), in order
(`FaultProxy.set_latency`, the simulated network's semantics).

Once both listeners are bound it writes `--ready FILE` (`pid`, `listen` HOST:PORT, `control` URL).
A bad value is a 400 naming the field; a port in use or an unreadable target, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosigner_ha.cluster.runtime.http_services import LOOPS, HttpServers, run_service
from cosigner_ha.env.files import write_text_atomic
from cosigner_ha.net import option_address
from cosigner_ha.net.proxy import FaultProxy


def register(subparsers: Any) -> None:
    proxy = subparsers.add_parser("proxy", help="a fault-injecting TCP proxy for one link (runtime)")
    sub = proxy.add_subparsers(dest="proxy_command", required=True)
    p = sub.add_parser("serve", help="forward --listen to --target; faults through the control API")
    p.add_argument("--target", required=True, metavar="HOST:PORT", help="where connections go")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    p.add_argument("--control", default="127.0.0.1:0", metavar="HOST:PORT")
    p.add_argument("--ready", type=Path, required=True, metavar="FILE", help="written once listening")
    p.add_argument("--loop", choices=LOOPS, default="trio")


def _host_port(text: str, what: str) -> tuple[str, int]:
    return option_address(what, text)


def _bad(where: str, why: str) -> Response:
    return JSONResponse({"error": "BAD_REQUEST", "message": f"{where}: {why}"}, 400)


def control_app(proxy: FaultProxy) -> Starlette:
    def action(do: Callable[[], None]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            do()
            return JSONResponse({"ok": True})

        return endpoint

    def valued(
        do: Callable[..., None], field: str, *optional: str
    ) -> Callable[[Request], Awaitable[Response]]:
        """`do(body[field], *(body[o] for o in optional if given))`: numbers, each checked by name."""

        async def endpoint(request: Request) -> Response:
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return _bad("body", "expected a JSON object")
            values = []
            for name in (field, *optional):
                if name not in body and name != field:
                    continue
                value = body.get(name)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return _bad(f"body.{name}", f"expected a number, got {value!r}")
                values.append(float(value))
            try:
                do(*values)
            except ValueError as exc:
                return _bad("body", str(exc))
            return JSONResponse({"ok": True})

        return endpoint

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "connections": proxy.connection_count})

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/partition", action(proxy.partition), methods=["POST"]),
            Route("/heal", action(proxy.heal), methods=["POST"]),
            Route("/clog", action(proxy.clog), methods=["POST"]),
            Route("/unclog", action(proxy.unclog), methods=["POST"]),
            Route("/latency", valued(proxy.set_latency, "seconds", "jitter"), methods=["POST"]),
            Route("/loss", valued(proxy.set_loss, "probability"), methods=["POST"]),
        ]
    )


async def serve(args: argparse.Namespace) -> None:
    target_host, target_port = _host_port(args.target, "--target")
    listen_host, listen_port = _host_port(args.listen, "--listen")
    _host_port(args.control, "--control")
    proxy = FaultProxy(target_host, target_port, listen_host=listen_host, listen_port=listen_port)
    async with anyio.create_task_group() as tasks:
        port = await tasks.start(proxy.serve)
        servers = HttpServers(tasks)
        urls = await servers.start(control_app(proxy), args.control)
        ready = {"pid": os.getpid(), "listen": f"{listen_host}:{port}", "control": urls[0]}
        write_text_atomic(args.ready, json.dumps(ready) + "\n")
        await servers.serve_until_signalled()


def run(args: argparse.Namespace) -> int:
    return run_service(serve, args, (ValueError, OSError))
