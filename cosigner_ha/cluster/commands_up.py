"""`cosigner-ha up SCENARIO [--api HOST:PORT] [--workdir DIR] [--time-scale N] [--webhook URL ...]
[--timeline] [--loop trio|asyncio] [--in-process] [--no-limits]`: a local Fireblocks on real co-signer processes, until
Ctrl-C.

The scenario's cluster runs as in `run --runtime` (`runtime/launcher.py`): `saas serve` (which also serves
the REST API, `runtime/rest_serve.py`), a link proxy per node and every node as its own process, paired
over TLS. Prints one ready line with the base URL, the API users and where their credentials are (on
standard output; notes and progress go to standard error). With `--timeline` the scenario's workloads and
faults are played while the API is up. Ctrl-C (exit 130) or SIGTERM (143) stops every process; a temporary
work directory is removed. Exit 2: the scenario or an argument is invalid, the address cannot be bound, or
the cluster could not be set up; 1: a process died while serving (reported with its status and log).
`--in-process` runs the cluster in this process instead (`local_api.py`: the simulator's parts on the real
clock), for what the runtime does not run yet (python and ASGI callback handlers).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from cosigner_ha.cluster import bundled, limits
from cosigner_ha.cluster.bundled import find_scenario, missing
from cosigner_ha.cluster.local_api import WEBHOOK_KEY_FILE, UserKeys, ready_line, user_keys
from cosigner_ha.cluster.runtime.fault_play import approximations, refusals
from cosigner_ha.cluster.runtime.launcher import Drill
from cosigner_ha.cluster.runtime.processes import ProcessFailed
from cosigner_ha.cluster.scenario import ScenarioError
from cosigner_ha.cluster.scenario.model import Scenario
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED
from cosigner_ha.inputs import shorten
from cosigner_ha.net import split_address

DEFAULT_API = "127.0.0.1:8080"
CREDENTIALS_FILE = "api_users.json"
#: The public halves of the API users' keys, for `saas serve --rest-users` (the secrets stay here).
REST_USERS_FILE = "rest_users.json"
#: Where the cluster's own files go inside the work directory (replaced by each `up`).
RUNTIME_DIR = "runtime"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "up",
        help="a local Fireblocks: the scenario's cluster as processes behind a /v1 REST API, until Ctrl-C",
    )
    p.add_argument("scenario", metavar="SCENARIO", type=Path, help="a scenario file")
    p.add_argument(
        "--api", default=DEFAULT_API, metavar="HOST:PORT", help=f"where to serve (default {DEFAULT_API})"
    )
    p.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="credentials, keys and every process's files (default: a temp dir, removed at the end)",
    )
    p.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL",
        help="post transaction webhooks here (repeatable)",
    )
    p.add_argument("--timeline", action="store_true", help="also play the scenario's workloads and faults")
    limits.add_flag(p)
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="N",
        help="divide every duration of the scenario (timeline, polls, timeouts, approvals) by N (default 1)",
    )
    p.add_argument("--loop", choices=("trio", "asyncio"), default="trio", help="the processes' event loop")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run the cluster inside this process (the simulator's parts on the real clock), for python "
        "and ASGI callback handlers, which the runtime does not run",
    )


def _address(text: str) -> tuple[str, int]:
    try:
        return split_address(text)
    except ValueError as exc:
        raise ValueError(f"--api: {exc}; expected HOST:PORT, such as {DEFAULT_API}") from None


def check_webhook(url: str) -> None:
    """A --webhook URL the server can post to: http(s), a host, a port if any in range."""
    try:
        parts = urlsplit(url)
        _port = parts.port
    except ValueError as exc:
        raise ValueError(f"--webhook {shorten(url)}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--webhook {shorten(url)}: expected an http:// or https:// URL with a host")


def _check_free(host: str, port: int) -> None:
    """A port another process holds is a clear error now, not a dead SaaS process later."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ValueError(f"--api {host}:{port}: cannot listen there ({exc.strerror})") from None


def write_credentials(workdir: Path, users: list[UserKeys]) -> Path:
    """Each generated secret key as `<name>.key` (mode 600) and `api_users.json` naming them."""
    workdir.mkdir(parents=True, exist_ok=True)
    table = []
    for user in users:
        entry: dict[str, Any] = {"name": user.name, "role": user.role, "api_key": user.api_key}
        if user.secret_key is not None:
            path = workdir / f"{user.name}.key"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(user.secret_key)
            entry["secret_key_file"] = str(path)
        table.append(entry)
    out = workdir / CREDENTIALS_FILE
    out.write_text(json.dumps(table, indent=2) + "\n")
    public = [{"name": u.name, "api_key": u.api_key, "public_key": u.public_key} for u in users]
    (workdir / REST_USERS_FILE).write_text(json.dumps(public, indent=2) + "\n")
    return out


def _check(args: argparse.Namespace) -> tuple[Scenario, tuple[str, int]]:
    address = _address(args.api)
    for url in args.webhook:
        check_webhook(url)
    path = find_scenario(args.scenario)
    if not path.exists():
        raise ValueError(missing(path))
    args.scenario = path  # a bundled scenario's file, which the cluster's processes read
    scenario = bundled.load(path)
    if scenario.multi_workspace:
        raise ValueError(
            f"{args.scenario}: declares {len(scenario.workspaces)} workspaces ([[workspaces]]); "
            "`cosigner-ha up` serves the REST API of one workspace: expected a file with one "
            "[workspace] (several workspaces run with `cosigner-ha run`)"
        )
    limits.check_limits(scenario, limits.limits_of(args), timeline=args.timeline, origin=str(args.scenario))
    if not (args.time_scale > 0 and args.time_scale < float("inf")):
        raise ValueError(f"--time-scale {args.time_scale:g}: expected a number above 0, such as 60")
    reasons = [] if args.in_process else refusals(scenario if args.timeline else _without_timeline(scenario))
    if reasons:
        raise ValueError(
            f"{args.scenario}: the runtime cannot run this scenario as written (--in-process can):\n  "
            + "\n  ".join(reasons)
        )
    _check_free(*address)
    return scenario, address


def _without_timeline(scenario: Scenario) -> Scenario:
    return dataclasses.replace(scenario, faults=(), workloads=())


def run(args: argparse.Namespace) -> int:
    notes = Console(stderr=True)
    try:
        scenario, (host, port) = _check(args)
        keep = args.workdir is not None
        workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="cosigner-ha-up-"))
        users = user_keys(scenario)
        try:
            credentials = write_credentials(workdir, users)
        except OSError as exc:
            raise ValueError(
                f"--workdir {workdir}: cannot write the credentials there ({exc.strerror or exc})"
            ) from None
    except (ValueError, OSError, ScenarioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.in_process:
        return _in_process(args, scenario, host, port, users, credentials, workdir)
    for note in approximations(scenario, args.time_scale):
        notes.print(f"[yellow]runtime:[/yellow] {note}")
    runtime = workdir / RUNTIME_DIR
    shutil.rmtree(runtime, ignore_errors=True)  # the previous `up`'s cluster in this work directory
    drill = Drill(args.scenario, scenario, runtime, time_scale=args.time_scale, loop=args.loop, console=notes)
    drill.cluster.saas_options = [
        *("--rest", f"{host}:{port}", "--rest-users", str(workdir / REST_USERS_FILE)),
        *(x for url in args.webhook for x in ("--webhook", url)),
        *(("--webhook-key-out", str(workdir / WEBHOOK_KEY_FILE)) if args.webhook else ()),
    ]
    try:
        with drill:
            with drill.progress() as progress:
                progress.add_task("starting processes and pairing", total=None, sim="", work="")
                drill.start()
            base_url = drill.cluster.ready["rest"]
            print(f"{ready_line(base_url, users)}; credentials in {credentials}", flush=True)
            if args.timeline:
                with drill.progress() as progress:
                    drill.play(progress)
            drill.serve()
    except KeyboardInterrupt:
        print("stopped: every process of the local cluster is down", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ProcessFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED if drill.started else EXIT_BAD_INPUT
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return EXIT_FAILED  # not reached: `serve` returns only by an exception


def _in_process(
    args: argparse.Namespace,
    scenario: Scenario,
    host: str,
    port: int,
    users: list[UserKeys],
    credentials: Path,
    workdir: Path,
) -> int:
    """`up --in-process`: the simulator's SaaS, nodes and handlers in this process on trio's real clock
    (`local_api.LocalFireblocks`), behind the same REST API."""
    import trio

    from cosigner_ha.cluster.grouped import first_of
    from cosigner_ha.cluster.local_api import LocalFireblocks, Ready
    from cosigner_ha.cluster.runner import SetupError
    from cosigner_ha.cluster.world import WorldError
    from cosigner_ha.policy import PolicyError

    server = LocalFireblocks(
        scenario,
        host=host,
        port=port,
        users=users,
        webhooks=args.webhook,
        timeline=args.timeline,
        workdir=workdir,
    )

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            ready: Ready = await nursery.start(server.serve)
            print(f"{ready.ready_line()}; credentials in {credentials}", flush=True)

    try:
        trio.run(main)
    except BaseException as exc:  # task groups wrap what their tasks raise
        if first_of(exc, (KeyboardInterrupt,)) is not None:
            print("stopped: every part of the local cluster is down", file=sys.stderr)
            return EXIT_INTERRUPTED
        found = first_of(exc, (PolicyError, WorldError, SetupError, OSError))
        if found is None:
            raise
        print(f"error: {found}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
