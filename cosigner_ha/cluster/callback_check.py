"""`cosigner-ha callback check TARGET`: a conformance battery for a user's callback handler.

TARGET is a URL (a handler running anywhere, as the runtime reaches it) or `module:app` / `module:function`
imported in process (an asyncio ASGI app runs on its own event loop with its lifespan, as in simulation).
The checker plays the co-signer: it sends requests in Fireblocks' format through the node's own callback
client, signed with `--cosigner-key` (a generated key without it) in public-key mode (`--handler-public-key`
given), plain JSON otherwise, and reports per check what the handler did against Fireblocks' rules.
Exit 0 when every check holds, 1 otherwise, 2 for a target that cannot be used.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.console import Console
from rich.table import Table

from cosigner_ha.env import Environment
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from cosigner_ha.node.asgi_host import AsyncioAsgiHost, LifespanError, is_asgi_app
from cosigner_ha.node.callback import (
    ACTIONS,
    CallbackClient,
    CallbackFailure,
    CallbackPolicy,
    HandlerDirectory,
    InProcessHandler,
    RequestKind,
)
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import load_private_key_pem, load_public_key_pem

IN_PROCESS_URL = "https://handler-under-check.local"


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "detail": self.detail}


def register(cbsub: Any) -> None:
    p = cbsub.add_parser("check", help="check a callback handler against Fireblocks' rules (exit 0/1)")
    p.add_argument("target", help="a URL, or module:app / module:function imported in process")
    p.add_argument("--handler-public-key", type=Path, help="the handler's RSA public key (PEM): JWT mode")
    p.add_argument("--cosigner-key", type=Path, help="the RSA private key (PEM) requests are signed with")
    p.add_argument("--path", type=Path, default=Path("."), help="folder to import module:attr from")
    p.add_argument("--deadline", type=float, default=30.0, help="seconds a handler may take (Fireblocks: 30)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def sample_tx(signer: str) -> dict[str, Any]:
    """A `tx_sign_request` as Fireblocks sends it (../shared/reference/cosigner-protocol.md section 1.2)."""
    tx = str(uuid.uuid4())
    return {
        "txId": tx,
        "requestId": str(uuid.uuid4()),
        "externalTxId": None,
        "operation": "TRANSFER",
        "sourceType": "VAULT",
        "sourceId": "0",
        "destType": "UNMANAGED",
        "destId": "partner-a",
        "asset": "ETH",
        "amount": 0.5,
        "amountStr": "0.5",
        "requestedAmount": 0.5,
        "requestedAmountStr": "0.5",
        "destAddressType": "WHITELISTED",
        "destAddress": "0x5b38da6a701c568545dcfcb03fcb875f56beddc4",
        "signerId": signer,
        "note": "",
        "players": [signer],
        "extraParameters": {},
        "destinations": [
            {
                "amountNative": 0.5,
                "amountNativeStr": "0.5",
                "amountUSD": 1500.0,
                "dstAddressType": "WHITELISTED",
                "dstId": "partner-a",
                "dstWalletId": "",
                "dstName": "partner-a",
                "dstSubType": "EXTERNAL",
                "dstType": "UNMANAGED",
                "displayDstAddress": "0x5b38da6a701c568545dcfcb03fcb875f56beddc4",
                "action": "ALLOW",
                "actionInfo": {
                    "capturedRuleNum": 0,
                    "rulesSnapshotId": 1,
                    "byGlobalPolicy": False,
                    "byRule": True,
                    "capturedRule": '{"action":"ALLOW","type":"TRANSFER"}',
                },
            }
        ],
    }


def sample_config_change(signer: str) -> dict[str, Any]:
    return {
        "requestId": str(uuid.uuid4()),
        "type": "UNMANAGED_WALLET",
        "extraInfo": {
            "subType": "EXTERNAL",
            "walletName": "partner-b",
            "walletId": str(uuid.uuid4()),
            "asset": "ETH",
            "address": "0xab8483f64d9c6d1ecf9b849ae677dd3315835cb2",
            "tag": "",
        },
        "signerId": signer,
    }


def _key(path: Path | None) -> rsa.RSAPrivateKey:
    if path is None:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return load_private_key_pem(path.read_bytes(), what=str(path))


@contextmanager
def _target(args: argparse.Namespace) -> Iterator[tuple[str, HandlerDirectory, bool]]:
    """(url, directory of in-process handlers, whether the network is used); hosts stopped after."""
    directory = HandlerDirectory()
    if args.target.startswith(("http://", "https://")):
        yield args.target, directory, True
        return
    module_name, _, attribute = args.target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"target {args.target!r}: expected a URL or module:attribute")
    sys.path.insert(0, str(args.path.resolve()))
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"target {args.target!r}: cannot import it: {exc}") from None
    if is_asgi_app(target):
        host = AsyncioAsgiHost(target, base_url=IN_PROCESS_URL)
        try:
            host.start()
        except LifespanError as exc:
            raise ValueError(f"target {args.target!r}: {exc}") from None
        directory.register(IN_PROCESS_URL, InProcessHandler(host=host))
        try:
            yield IN_PROCESS_URL, directory, False
        finally:
            problem = host.close()
            if problem is not None:
                print(f"warning: {args.target}: {problem}", file=sys.stderr)
        return
    if not callable(target):
        raise ValueError(
            f"target {args.target!r} is a {type(target).__name__}: expected an ASGI app or function"
        )
    directory.register(IN_PROCESS_URL, InProcessHandler(function=target))
    yield IN_PROCESS_URL, directory, False


async def battery(
    url: str,
    directory: HandlerDirectory,
    *,
    network: bool,
    handler_public_key: str,
    cosigner_key: rsa.RSAPrivateKey,
    deadline: float,
) -> list[Check]:
    env = Environment.runtime(header={"command": "callback check"})
    policy = CallbackPolicy(deadline=deadline)
    settings = CallbackSettings(url=url, public_key=handler_public_key)
    is_function = (handler := directory.lookup(url)) is not None and handler.function is not None
    jwt_mode = not is_function
    if jwt_mode and not handler_public_key:
        raise ValueError(
            "an HTTP or ASGI handler is checked in public-key mode: give --handler-public-key (its RSA key, PEM)"
        )

    def client(key: rsa.RSAPrivateKey) -> CallbackClient:
        return CallbackClient(
            env,
            node="callback-check",
            signing_key=lambda: key,
            directory=directory,
            network=network,
            policy=policy,
            require_echo=True,
        )

    ours, foreign = (
        client(cosigner_key),
        client(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    )
    checks: list[Check] = []
    signer = str(uuid.uuid4())

    async def ask(c: CallbackClient, kind: RequestKind, body: dict[str, Any]) -> tuple[str, float]:
        started = time.monotonic()
        try:
            action, _ = await c.attempt_once(kind, settings, body)
        except CallbackFailure as failure:
            return f"failure {failure}", time.monotonic() - started
        return action, time.monotonic() - started

    try:
        tx = sample_tx(signer)
        first, took = await ask(ours, "tx", tx)
        failed = first.startswith("failure")
        timed_out = "TIMEOUT" in first
        checks.append(Check("answers within the deadline", not timed_out, f"{first} after {took:.3f} s"))
        echo_ok = "REQUEST_ID_MISMATCH" not in first and not timed_out
        checks.append(Check("echoes requestId", echo_ok and not failed, first))
        if jwt_mode:
            bad_key = any(code in first for code in ("BAD_SIGNATURE", "WRONG_KEY", "MALFORMED"))
            checks.append(Check("signs its JWT with the configured key", not failed and not bad_key, first))
        else:
            checks.append(
                Check(
                    "signs its JWT with the configured key",
                    True,
                    "not applicable: a Python function answers a dict, no JWT",
                )
            )
        again, _ = await ask(ours, "tx", tx)
        checks.append(
            Check(
                "answers a retried identical request the same way", again == first, f"{first}, then {again}"
            )
        )
        if jwt_mode:
            forged, _ = await ask(foreign, "tx", sample_tx(signer))
            refused = forged != "APPROVE"
            checks.append(Check("rejects a request signed by another key", refused, forged))
            try:
                status: int | str = await ours.post_raw("tx", settings, b"{not a JWT")
            except CallbackFailure as failure:
                status = str(failure)
            after, _ = await ask(ours, "tx", sample_tx(signer))
            survived = status != 200 and not after.startswith("failure")
            checks.append(
                Check("survives a malformed body", survived, f"HTTP {status}; the next request: {after}")
            )
        else:
            for name in ("rejects a request signed by another key", "survives a malformed body"):
                checks.append(
                    Check(name, True, "not applicable: a Python function takes a dict, no HTTP body")
                )
        change, _ = await ask(ours, "config_change", sample_config_change(signer))
        checks.append(Check("handles a configuration-change request", change in ACTIONS, change))
        answers = [first, again]
        wrong = [a for a in answers if a == "IGNORE"]
        checks.append(
            Check(
                "uses only APPROVE/REJECT/RETRY (IGNORE only for approvals)",
                not wrong and not any("NOT_ALLOWED" in a for a in answers),
                ", ".join(sorted({*answers, change})),
            )
        )
    finally:
        await ours.aclose()
        await foreign.aclose()
    return checks


def run(args: argparse.Namespace, *, out: Callable[[str], None] = print) -> int:
    try:
        public = ""
        if args.handler_public_key is not None:
            public = args.handler_public_key.read_text()
            load_public_key_pem(public, what=str(args.handler_public_key))
        key = _key(args.cosigner_key)
        with _target(args) as (url, directory, network):
            checks = anyio.run(
                lambda: battery(
                    url,
                    directory,
                    network=network,
                    handler_public_key=public,
                    cosigner_key=key,
                    deadline=args.deadline,
                ),
                backend="trio",
            )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    passed = all(c.passed for c in checks)
    if args.json:
        out(json.dumps({"target": args.target, "passed": passed, "checks": [c.to_json() for c in checks]}))
    else:
        table = Table(title=f"callback check {args.target}", title_justify="left")
        table.add_column("check")
        table.add_column("result")
        table.add_column("what the handler did")
        for c in checks:
            table.add_row(c.name, "[green]pass[/]" if c.passed else "[red]FAIL[/]", c.detail)
        Console().print(table)
    return EXIT_OK if passed else EXIT_FAILED
