"""The Fireblocks REST API (`saas_sim.rest`) served by `cosigner-ha saas serve --rest HOST:PORT`, in the
process that holds the SaaS, so that `cosigner-ha up` puts a local Fireblocks in front of real co-signer
processes.

    saas serve ... --scenario S --rest 127.0.0.1:8080 --rest-users users.json \
        [--webhook URL ...] [--webhook-key-out FILE]

`--rest-users` is a JSON list of `{"name", "api_key", "public_key"}` (PEM public keys: the secrets stay with
whoever started the process). The scenario's `[workspace] balances`, when given, are followed as in `up`.
With `--webhook`, transaction webhooks are signed with a key made here, whose public half goes to
`--webhook-key-out`.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path

import anyio
import anyio.abc
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.cluster.runtime.http_services import HttpServers
from cosigner_ha.cluster.scenario import Scenario
from cosigner_ha.saas_sim import Saas
from cosigner_ha.saas_sim.rest import PREFIX, ApiCredential, Balances, RestApi, load_public_key
from cosigner_ha.saas_sim.rest.server import build_app
from cosigner_ha.saas_sim.rest.webhooks import WebhookNotifier


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rest", metavar="HOST:PORT", help="also serve the Fireblocks REST API (/v1) here")
    p.add_argument(
        "--rest-users",
        type=Path,
        metavar="FILE",
        help="the REST API's users: a JSON list of {name, api_key, public_key (PEM)}",
    )
    p.add_argument("--webhook", action="append", default=[], metavar="URL", help="post webhooks here")
    p.add_argument("--webhook-key-out", type=Path, metavar="FILE", help="write the webhook public key here")


def check(args: argparse.Namespace) -> None:
    """The REST options make sense together (a `ValueError` naming the option otherwise)."""
    if args.rest is None:
        for option, value in (("--rest-users", args.rest_users), ("--webhook", args.webhook)):
            if value:
                raise ValueError(f"{option} needs --rest HOST:PORT")
        return
    if args.scenario is None:
        raise ValueError("--rest needs --scenario: the API serves the scenario's workspace")
    if args.rest_users is None:
        raise ValueError("--rest needs --rest-users FILE: the API users and their public keys")


def credentials(path: Path) -> list[ApiCredential]:
    """The `--rest-users` file, each entry checked (a `ValueError` naming the entry and field)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--rest-users {path}: not a readable JSON file ({exc})") from None
    if not isinstance(entries, list):
        raise ValueError(f"--rest-users {path}: expected a JSON list of API users")
    out = []
    for i, entry in enumerate(entries):
        fields = {}
        for field in ("name", "api_key", "public_key"):
            value = entry.get(field) if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value:
                raise ValueError(f"--rest-users {path}: [{i}].{field}: expected a non-empty string")
            fields[field] = value
        key = load_public_key(fields["public_key"].encode(), f"--rest-users {path}: [{i}].public_key")
        out.append(ApiCredential(fields["api_key"], fields["name"], key))
    return out


async def serve_rest(
    args: argparse.Namespace,
    saas: Saas,
    scenario: Scenario,
    servers: HttpServers,
    tasks: anyio.abc.TaskGroup,
) -> str:
    """Start the REST API (and the webhook notifier) in `tasks`; the API's base URL (with `/v1`)."""
    balances = None
    if scenario.workspace.balances:
        balances = Balances(
            {
                vault: {asset: Decimal(str(x)) for asset, x in assets.items()}
                for vault, assets in scenario.workspace.balances.items()
            }
        )
        balances.attach(saas)
    api = RestApi(saas, scenario.workspace.name, credentials(args.rest_users), balances=balances)
    if args.webhook:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if args.webhook_key_out is not None:
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            args.webhook_key_out.write_bytes(public)
        client = httpx.AsyncClient(timeout=10.0)

        async def send(url: str, body: bytes, headers: dict[str, str]) -> None:
            response = await client.post(url, content=body, headers=headers)
            response.raise_for_status()

        await tasks.start(WebhookNotifier(api, args.webhook, key, send).run)
    urls = await servers.start(build_app(api), args.rest)
    return urls[0].rstrip("/") + PREFIX
