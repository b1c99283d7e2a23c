"""`cosigner-ha saas serve`: the SaaS simulator as its own process.

The node gateway listens over TLS (the nodes pin its certificate); the control API (`control_api`) listens
over plain HTTP on loopback for the launcher. The process writes its events as JSON Lines to
`STATE/trace.jsonl` (real clock) and, once both listeners are bound, `STATE/ready.json` with their
addresses and its pid, so a launcher that asked for port 0 learns the ports. The cloud co-signers live in
this process, as at Fireblocks. Exit 2: a missing or unreadable certificate, a port in use, a bad scenario,
a state file that is not one.

Its state (workspaces, pairings, the cloud co-signers' shares, transactions, requests) is kept in
`STATE/saas.sqlite` (`saas_sim.durable`), saved before each event is recorded: a process killed with SIGKILL
and started again on the same directory restores it, continues its clock and carries on what was under
way; `--scenario` then sets nothing up again (the workspace is already there).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import ssl
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from cosigner_ha.cluster.grouped import first_of
from cosigner_ha.cluster.runtime import rest_serve
from cosigner_ha.cluster.runtime.control_api import ControlApi
from cosigner_ha.cluster.runtime.http_services import LOOPS, HttpServers
from cosigner_ha.cluster.runtime.trace_merge import record_started
from cosigner_ha.cluster.scenario import ScenarioError, load_scenario
from cosigner_ha.cluster.world import WorldError, saas_config
from cosigner_ha.env import Environment
from cosigner_ha.env.files import write_text_atomic
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK
from cosigner_ha.net import AddressInUse, TcpNetwork, option_address
from cosigner_ha.policy import PolicyError
from cosigner_ha.saas_sim import Saas, SaasConfig, durable
from cosigner_ha.saas_sim.errors import SaasError
from cosigner_ha.saas_sim.owner_client import RemoteOwner
from cosigner_ha.saas_sim.state_store import FILE_NAME as STATE_FILE
from cosigner_ha.saas_sim.state_store import StateStore

READY_FILE = "ready.json"
TRACE_FILE = "trace.jsonl"


def register(subparsers: Any) -> None:
    saas = subparsers.add_parser("saas", help="the SaaS simulator as a process (runtime)")
    sub = saas.add_subparsers(dest="saas_command", required=True)
    p = sub.add_parser("serve", help="serve the node gateway over TLS and the control API over HTTP")
    p.add_argument(
        "--state",
        type=Path,
        required=True,
        metavar="DIR",
        help="the SaaS's state (kept across restarts), its trace and ready file",
    )
    p.add_argument("--cert", type=Path, required=True, help="the gateway's TLS certificate (PEM)")
    p.add_argument("--key", type=Path, required=True, help="the gateway's TLS private key (PEM)")
    p.add_argument("--gateway", default="127.0.0.1:0", metavar="HOST:PORT", help="node gateway (TLS)")
    p.add_argument("--control", default="127.0.0.1:0", metavar="HOST:PORT", help="control API (HTTP)")
    p.add_argument("--scenario", type=Path, help="set up this scenario's workspace and SaaS settings")
    p.add_argument(
        "--vendor-key", help="the attestation vendor's public key (hex), as `node hardware` prints"
    )
    p.add_argument(
        "--measurement",
        action="append",
        default=[],
        help="an expected enclave measurement (hex), as `node hardware` prints; repeatable",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="N",
        help="divide the SaaS's durations (long poll, probe window, timeouts, approval latencies) by N",
    )
    p.add_argument(
        "--owner",
        metavar="URL",
        help="the owner's device as its own process (`cosigner-ha owner serve`): the SaaS holds no share of it",
    )
    p.add_argument("--loop", choices=LOOPS, default="trio", help="the event loop (default trio)")
    rest_serve.register(p)


#: Durations a time scale leaves alone: token lifetimes are JWT claims in whole wall-clock seconds.
UNSCALED = ("pairing_token_ttl", "access_token_ttl")


def scaled(config: SaasConfig, scale: float) -> SaasConfig:
    """Every duration of `config` divided by `scale` (token lifetimes excepted), so a drill runs faster."""
    changes = {
        f.name: getattr(config, f.name) / scale
        for f in dataclasses.fields(config)
        if f.type in ("float", float) and f.name not in UNSCALED
    }
    return dataclasses.replace(config, **changes)


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(
            f"{what} {text!r}: expected hex digits, as `cosigner-ha node hardware` prints"
        ) from None


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    """The gateway's TLS context; a missing or mismatched file is a `ValueError` naming it."""
    for path, what in ((cert, "--cert"), (key, "--key")):
        if not path.is_file():
            raise ValueError(f"{what} {path}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ValueError(f"--cert {cert} / --key {key}: not a PEM certificate and its key ({exc})") from None
    return context


@contextmanager
def store_closed(store: StateStore) -> Iterator[StateStore]:
    try:
        yield store
    finally:
        store.close()


async def serve(args: argparse.Namespace, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    """Run until SIGINT/SIGTERM (or cancelled)."""
    tls = server_tls(args.cert, args.key)
    rest_serve.check(args)
    scenario = load_scenario(args.scenario) if args.scenario is not None else None
    if not args.time_scale > 0:
        raise ValueError(f"--time-scale {args.time_scale}: expected a number above 0")
    config = scaled(saas_config(scenario) if scenario is not None else SaasConfig(), args.time_scale)
    vendor = _hex(args.vendor_key, "--vendor-key") if args.vendor_key else None
    measurements = [_hex(m, "--measurement") for m in args.measurement]
    state: Path = args.state
    state.mkdir(parents=True, exist_ok=True)
    (state / READY_FILE).unlink(missing_ok=True)
    owner = None if args.owner is None else RemoteOwner(args.owner)
    if owner is not None:
        await owner.check()
    store = StateStore(state / STATE_FILE)
    # the restored clock resumes where the saved run was, plus the time it was down
    elapsed = durable.elapsed(store.load(), time.time())
    with store_closed(store), (state / TRACE_FILE).open("a", buffering=1) as sink:
        env = Environment.runtime(header={"role": "saas", "pid": os.getpid()}, sink=sink, elapsed=elapsed)
        record_started(env, "saas", "saas")
        saas = Saas(
            env.child("saas"),
            network=TcpNetwork(ssl_context_server=tls),
            address=args.gateway,
            config=config,
            vendor_key=vendor,
            expected_measurements=measurements,
            store=store,
            owner=owner,
        )
        restored = saas.durable is not None and saas.durable.restored
        control = ControlApi(saas, time_scale=args.time_scale)
        async with anyio.create_task_group() as tasks:
            gateway = await tasks.start(saas.run)
            if args.scenario is not None and not restored:
                await control.setup_from_scenario(args.scenario)
            servers = HttpServers(tasks)
            urls = await servers.start(control.app(), args.control)
            ready: dict[str, Any] = {
                "pid": os.getpid(),
                "gateway": gateway,
                "control": urls[0],
                "restored": restored,
            }
            if args.rest is not None:
                assert scenario is not None  # rest_serve.check
                ready["rest"] = await rest_serve.serve_rest(args, saas, scenario, servers, tasks)
            write_text_atomic(state / READY_FILE, json.dumps(ready) + "\n")
            how = " (state restored)" if restored else ""
            print(f"saas ready{how}: gateway {gateway} (TLS), control {urls[0]}", flush=True)
            task_status.started(ready)
            await servers.serve_until_signalled()


def run(args: argparse.Namespace) -> int:
    try:
        option_address("--gateway", args.gateway)
        option_address("--control", args.control)
        anyio.run(serve, args, backend=args.loop)
    except BaseException as exc:  # task groups wrap what their tasks raise
        found = first_of(
            exc, (AddressInUse, ValueError, OSError, ScenarioError, WorldError, PolicyError, SaasError)
        )
        if found is not None:
            print(f"error: {found}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if first_of(exc, (KeyboardInterrupt,)) is not None:
            return EXIT_INTERRUPTED
        raise
    return EXIT_OK
