"""`cosigner-ha callback serve`: the reference callback handler over HTTP(S), for a runtime estate.

`cosigner_ha/cli.py` wires it in through `cosigner_ha.cluster.commands_callback`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from cosigner_ha.callback_handler.handler import HandlerRules, ReferenceHandler, serve
from cosigner_ha.node.rsa_keys import load_public_key_pem

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def register(subparsers: Any) -> None:
    cb = subparsers.add_parser("callback", help="the reference callback handler (runtime)")
    cbsub = cb.add_subparsers(dest="callback_command", required=True)
    p = cbsub.add_parser("serve", help="serve the reference callback handler over HTTP(S)")
    p.add_argument("--bind", default="127.0.0.1:8443")
    p.add_argument("--cert", help="TLS certificate (PEM); with --tls-key, serves HTTPS")
    p.add_argument("--tls-key", help="TLS private key (PEM)")
    p.add_argument(
        "--jwt-key", type=Path, help="RSA private key (PEM): public-key mode; without it, plain JSON"
    )
    p.add_argument(
        "--cosigner-key", type=Path, action="append", default=[], help="a co-signer's public key (PEM)"
    )
    p.add_argument("--action", default="APPROVE", choices=["APPROVE", "REJECT", "RETRY", "IGNORE"])
    p.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    p.add_argument("--reject-above-usd", type=float, default=None)
    p.add_argument("--retry-first", type=int, default=0, help="answer RETRY to the first N attempts")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit code 0 done, 2 bad input (a key file that does not load, say)."""
    try:
        anyio.run(serve_callback, args, backend="trio")
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


async def serve_callback(
    args: argparse.Namespace, *, started: Callable[[list[str]], Awaitable[None]] | None = None
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = None
    if args.jwt_key:
        try:
            loaded = serialization.load_pem_private_key(args.jwt_key.read_bytes(), password=None)
        except ValueError:
            raise ValueError(f"{args.jwt_key}: not a PEM private key (--jwt-key)") from None
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{args.jwt_key}: not an RSA private key")
        key = loaded
    for path in args.cosigner_key:
        load_public_key_pem(path.read_text(), what=str(path))
    handler = ReferenceHandler(
        HandlerRules(
            action=args.action,
            latency=args.latency,
            reject_above_usd=args.reject_above_usd,
            retry_first=args.retry_first,
        ),
        key=key,
        cosigner_keys=[p.read_text() for p in args.cosigner_key],
    )
    async with anyio.create_task_group() as tasks:
        urls = await tasks.start(
            lambda task_status: serve(
                handler.app, args.bind, certfile=args.cert, keyfile=args.tls_key, task_status=task_status
            )
        )
        print(f"callback handler listening on {', '.join(urls)}", flush=True)
        if started is not None:
            await started(urls)
