"""`cosigner-ha up SCENARIO [--api HOST:PORT] [--workdir DIR] [--webhook URL ...] [--timeline]`: a local
Fireblocks until Ctrl-C.

Until the runtime's launcher lands, the cluster runs in this process on the real clock (the simulator's
SaaS, nodes and handlers; `cluster/local_api.py`); the REST API is the one the runtime will serve. Prints one
ready line with the base URL, the API users and where their credentials are; Ctrl-C stops everything and
exits 130. Exit 2: the scenario or an argument is invalid, or the address cannot be bound.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

from cosigner_ha.cluster.grouped import first_of
from cosigner_ha.cluster.local_api import LocalFireblocks, Ready, UserKeys, user_keys
from cosigner_ha.cluster.runner import SetupError
from cosigner_ha.cluster.scenario import ScenarioError, load_scenario
from cosigner_ha.cluster.world import WorldError
from cosigner_ha.policy import PolicyError

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130
DEFAULT_API = "127.0.0.1:8080"
CREDENTIALS_FILE = "api_users.json"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "up", help="a local Fireblocks: the scenario's cluster behind a /v1 REST API, until Ctrl-C"
    )
    p.add_argument("scenario", metavar="SCENARIO", type=Path, help="a scenario file")
    p.add_argument(
        "--api", default=DEFAULT_API, metavar="HOST:PORT", help=f"where to serve (default {DEFAULT_API})"
    )
    p.add_argument(
        "--workdir", type=Path, metavar="DIR", help="where credentials and keys go (default: a new temp dir)"
    )
    p.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL",
        help="post transaction webhooks here (repeatable)",
    )
    p.add_argument("--timeline", action="store_true", help="also play the scenario's workloads and faults")


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--api {text!r}: expected HOST:PORT, such as {DEFAULT_API}")
    return host.strip("[]"), int(port)


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
    return out


def run(args: argparse.Namespace) -> int:
    try:
        host, port = _address(args.api)
        scenario = load_scenario(args.scenario) if args.scenario.exists() else None
        if scenario is None:
            raise ValueError(f"{args.scenario}: no such scenario file")
        if scenario.multi_workspace:
            raise ValueError(
                f"{args.scenario}: declares {len(scenario.workspaces)} workspaces ([[workspaces]]); "
                "`cosigner-ha up` serves the REST API of one workspace: expected a file with one "
                "[workspace] (several workspaces run with `cosigner-ha run`)"
            )
        workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="cosigner-ha-up-"))
        users = user_keys(scenario)
        credentials = write_credentials(workdir, users)
    except (ValueError, OSError, ScenarioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
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
