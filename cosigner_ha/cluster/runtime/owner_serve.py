"""`cosigner-ha owner serve`: the workspace owner's mobile device as its own process.

It holds the owner's share of each workspace key (identifier 1; kept in `STATE/owner.json`, written
atomically, so a restart of the device loses nothing) and makes the owner's approvals; the SaaS reaches it
with `saas serve --owner URL` (`saas_sim.owner_client`), so the SaaS process never holds the share. Bodies
are msgpack, as the SaaS's client sends them:

    POST /dkg/1 /dkg/2 /dkg/3      the workspace key's DKG, with the two cloud co-signers
    POST /approvals                {"approver", "details"}: answers after the owner's latency
    POST /contributions            {"request_id", "workspace_id", "transport_key"}: the resharing
                                   contribution to an approved pairing, the node's piece sealed to the node
                                   (the same contribution when asked again for the same request)
    POST /behaviour                JSON {"verdict": "APPROVE"|"REJECT"|"ABSENT", "latency": s}: for a drill
    GET  /health

The owner answers after `--latency` (default: the scenario's owner approval latency, else 60 s) divided by
`--time-scale`. Once listening it writes `STATE/ready.json` (`pid`, `url`) and appends its events to
`STATE/trace.jsonl`. Exit 2: a port in use, an unreadable state file, a bad scenario.
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

from cosigner_ha import mpc
from cosigner_ha.cluster.runtime.http_services import LOOPS, HttpServers, run_service
from cosigner_ha.cluster.runtime.trace_merge import record_started
from cosigner_ha.cluster.scenario import ScenarioError, load_scenario
from cosigner_ha.cluster.world import WorldError, approver_latencies
from cosigner_ha.env import Environment
from cosigner_ha.env.files import write_text_atomic
from cosigner_ha.policy.vocabulary import Role
from cosigner_ha.saas_sim.approvers import Verdict
from cosigner_ha.saas_sim.keyholders import OwnerDevice
from cosigner_ha.saas_sim.owner_client import CONTENT_TYPE, pack, unpack

READY_FILE, TRACE_FILE, KEYS_FILE = "ready.json", "trace.jsonl", "owner.json"
DEFAULT_LATENCY = 60.0

Handler = Callable[[Request], Awaitable[Response]]


def register(subparsers: Any) -> None:
    owner = subparsers.add_parser("owner", help="the owner's mobile device as a process (runtime)")
    sub = owner.add_subparsers(dest="owner_command", required=True)
    p = sub.add_parser("serve", help="hold the owner's key shares and answer the owner's approvals")
    p.add_argument("--state", type=Path, required=True, metavar="DIR", help="key shares, trace, ready file")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT", help="HTTP, loopback")
    p.add_argument("--scenario", type=Path, help="take the owner's approval latency from this scenario")
    p.add_argument("--latency", type=float, metavar="SECONDS", help="the owner's approval latency")
    p.add_argument("--verdict", choices=[v.value for v in Verdict], default=Verdict.APPROVE.value)
    p.add_argument("--time-scale", type=float, default=1.0, metavar="N", help="divide the latency by N")
    p.add_argument("--loop", choices=LOOPS, default="trio")


class BadRequest(ValueError):
    pass


class Device:
    """The owner's device: its shares (`OwnerDevice`), its behaviour, and the answers it already gave."""

    def __init__(self, env: Environment, keys: Path, latency: float, verdict: Verdict) -> None:
        self.env = env
        self.keys = keys
        self.latency = latency
        self.verdict = verdict
        self.device = OwnerDevice(env.randbytes)
        if keys.exists():
            try:
                self.device.import_keys(json.loads(keys.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(
                    f"{keys}: not the owner device's key file ({type(exc).__name__}: {exc})"
                ) from None
        self._contributions: dict[str, dict[str, Any]] = {}

    def _save(self) -> None:
        write_text_atomic(self.keys, json.dumps(self.device.export_keys(), indent=1) + "\n")

    async def dkg1(self, body: dict[str, Any]) -> Any:
        return self.device.dkg_part1(_text(body, "workspace_id")).to_dict()

    async def dkg2(self, body: dict[str, Any]) -> Any:
        round1 = _packages(body, "round1", mpc.DkgRound1Package.from_dict)
        out = self.device.dkg_part2(_text(body, "workspace_id"), round1)
        return {i: p.to_dict() for i, p in out.items()}

    async def dkg3(self, body: dict[str, Any]) -> Any:
        ws = _text(body, "workspace_id")
        round1 = _packages(body, "round1", mpc.DkgRound1Package.from_dict)
        round2 = {p.sender: p for p in (mpc.DkgRound2Package.from_dict(x) for x in body.get("round2", []))}
        public = self.device.dkg_part3(ws, round1, round2)
        self._save()  # the share is on disk before anyone learns the key exists
        self.env.trace.record("owner_key_created", workspace=ws, public_key=public.group_public_key.hex())
        return {"public_package": public.to_bytes()}

    async def approve(self, body: dict[str, Any]) -> Any:
        approver = _text(body, "approver")
        details = body.get("details") or {}
        verdict, latency = self.verdict, self.latency
        if verdict is Verdict.ABSENT:
            await anyio.sleep_forever()
        await anyio.sleep(latency)
        reason = (
            "approved on the owner's device"
            if verdict is Verdict.APPROVE
            else "refused on the owner's device"
        )
        self.env.trace.record(
            "owner_approval",
            approver=approver,
            type=details.get("kind"),
            verdict=verdict.value,
            latency=latency,
        )
        return {"verdict": verdict.value, "reason": reason, "latency": latency}

    async def contribute(self, body: dict[str, Any]) -> Any:
        request_id = _text(body, "request_id")
        done = self._contributions.get(request_id)
        if done is None:
            transport_key = body.get("transport_key")
            if not isinstance(transport_key, bytes) or len(transport_key) != 32:
                raise BadRequest("body.transport_key: expected the node's 32-byte transport key")
            ws = _text(body, "workspace_id")
            if not self.device.holds_workspace(ws):
                raise BadRequest(f"body.workspace_id: this device holds no share of workspace {ws!r}")
            done = self.device.pairing_contribution(ws, transport_key).to_plain()
            self._contributions[request_id] = done
            self.env.trace.record("owner_contribution", request=request_id, workspace=ws)
        return done

    def app(self) -> Starlette:
        def packed(handler: Callable[[dict[str, Any]], Awaitable[Any]]) -> Handler:
            async def endpoint(request: Request) -> Response:
                try:
                    body = unpack(await request.body())
                    if not isinstance(body, dict):
                        raise BadRequest("body: expected a msgpack map")
                    answer = await handler(body)
                except (BadRequest, mpc.MpcError, ValueError, KeyError) as exc:
                    return JSONResponse({"error": "BAD_REQUEST", "message": str(exc)}, status_code=400)
                return Response(pack(answer), media_type=CONTENT_TYPE)

            return endpoint

        async def behaviour(request: Request) -> Response:
            try:
                body = json.loads(await request.body() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                if "verdict" in body:
                    self.verdict = Verdict(body["verdict"])
                if "latency" in body:
                    latency = body["latency"]
                    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
                        raise ValueError(f"body.latency: expected seconds >= 0, got {latency!r}")
                    self.latency = float(latency)
            except ValueError as exc:
                return JSONResponse({"error": "BAD_REQUEST", "message": str(exc)}, status_code=400)
            return JSONResponse({"verdict": self.verdict.value, "latency": self.latency})

        async def health(request: Request) -> Response:
            return JSONResponse({"ok": True, "workspaces": len(self.device.export_keys()["workspace"])})

        return Starlette(
            routes=[
                Route("/health", health, methods=["GET"]),
                Route("/dkg/1", packed(self.dkg1), methods=["POST"]),
                Route("/dkg/2", packed(self.dkg2), methods=["POST"]),
                Route("/dkg/3", packed(self.dkg3), methods=["POST"]),
                Route("/approvals", packed(self.approve), methods=["POST"]),
                Route("/contributions", packed(self.contribute), methods=["POST"]),
                Route("/behaviour", behaviour, methods=["POST"]),
            ]
        )


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"body.{field}: expected a non-empty string, got {value!r}")
    return value


def _packages(body: dict[str, Any], field: str, parse: Callable[[Any], Any]) -> dict[int, Any]:
    items = body.get(field)
    if not isinstance(items, list):
        raise BadRequest(f"body.{field}: expected a list of packages")
    packages = [parse(item) for item in items]
    return {p.identifier: p for p in packages}


def owner_latency(args: argparse.Namespace) -> float:
    if not args.time_scale > 0:
        raise ValueError(f"--time-scale {args.time_scale}: expected a number above 0")
    latency: float | None = args.latency
    if latency is None and args.scenario is not None:
        scenario = load_scenario(args.scenario)
        owners = [u.name for u in scenario.users if u.role == Role.OWNER] or ["owner"]
        latency = approver_latencies(scenario)[owners[0]]
    if latency is None:
        latency = DEFAULT_LATENCY
    if latency < 0:
        raise ValueError(f"--latency {latency}: expected seconds >= 0")
    scale: float = args.time_scale
    return float(latency) / scale


async def serve(args: argparse.Namespace, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    latency = owner_latency(args)
    state: Path = args.state
    state.mkdir(parents=True, exist_ok=True)
    (state / READY_FILE).unlink(missing_ok=True)
    with (state / TRACE_FILE).open("a", buffering=1) as sink:
        env = Environment.runtime(header={"role": "owner", "pid": os.getpid()}, sink=sink)
        record_started(env, "owner", "owner")
        device = Device(env, state / KEYS_FILE, latency, Verdict(args.verdict))
        async with anyio.create_task_group() as tasks:
            servers = HttpServers(tasks)
            urls = await servers.start(device.app(), args.listen)
            ready = {"pid": os.getpid(), "url": urls[0]}
            write_text_atomic(state / READY_FILE, json.dumps(ready) + "\n")
            print(f"owner device ready: {urls[0]} (latency {latency:g} s)", flush=True)
            task_status.started(ready)
            await servers.serve_until_signalled()


def run(args: argparse.Namespace) -> int:
    return run_service(serve, args, (ValueError, OSError, ScenarioError, WorldError))
