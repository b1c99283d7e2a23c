"""Runtime commands: `cosigner-ha node setup|add-user|callback-update|list-users|print-public-key|logs|start`
and `cosigner-ha callback serve`. `cosigner_ha/cli.py` only wires them in.
They live in the cluster layer because they wire a node to a machine (the simulated hardware profile of
`cosigner_ha.cluster.infra`) and to the reference handler (`cosigner_ha.handler`), which the node never imports.

In the runtime the node is the same code as in simulation, with the real clock, the OS random source
and TCP to the SaaS. Its "hardware" is simulated too: `node hardware --home DIR` creates a profile (the
SGX CPU's fused secret, the CPU vendor's attestation key, the image-signing key) in `DIR/hardware.json`
and prints what the SaaS's attestation service needs (the vendor public key and the image measurement).
The node's files live under `DIR/disk/` exactly where the product keeps them (`/databases/cosigner/...`).
Every command other than `start` and `logs` boots the enclave (attestation included), does its work and
exits; run them while `start` is not running, as with the product's `setup`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from cosigner_ha import inputs
from cosigner_ha.cluster import admin_socket, callback_check
from cosigner_ha.cluster.grouped import first_of
from cosigner_ha.cluster.node_hardware import IMAGE_VERSION, Hardware
from cosigner_ha.cluster.runtime import callback_serve
from cosigner_ha.cluster.runtime.trace_merge import record_started
from cosigner_ha.env import Environment
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from cosigner_ha.handler.reference import HandlerRules, ReferenceHandler, serve
from cosigner_ha.inputs import shorten
from cosigner_ha.net import TcpNetwork, option_address
from cosigner_ha.node.errors import NodeError, SaasUnreachable
from cosigner_ha.node.node import Node, NodeConfig, UserInfo
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import load_private_key_pem, load_public_key_pem
from cosigner_ha.node.storage import LocalDisk


class Unreachable(NodeError):
    """The SaaS named by `--saas` did not answer: a set-up error (exit 2), like a missing certificate."""


def register(subparsers: Any) -> None:
    node = subparsers.add_parser("node", help="run or administer a co-signer node (runtime)")
    sub = node.add_subparsers(dest="node_command", required=True)

    def common(p: argparse.ArgumentParser, *, saas: bool = True) -> None:
        p.add_argument(
            "--home", required=True, type=Path, help="the node's directory (hardware profile, disk)"
        )
        if saas:
            p.add_argument("--saas", required=True, metavar="HOST:PORT", help="the SaaS gateway")
            p.add_argument(
                "--name", default=None, help="co-signer id (default: the hardware profile's host name)"
            )
            p.add_argument(
                "--saas-cert",
                type=Path,
                default=None,
                help="the SaaS gateway's TLS certificate to pin (PEM); without it, plain TCP",
            )
            p.add_argument(
                "--loop", choices=("trio", "asyncio"), default="trio", help="the event loop (default trio)"
            )
            p.add_argument(
                "--trace", type=Path, default=None, help="append this process's events here (JSON Lines)"
            )
            p.add_argument(
                "--time-scale",
                type=float,
                default=1.0,
                metavar="N",
                help="divide the node's durations (poll, timeouts, back-off, callback deadline) by N",
            )

    def callback_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--callback-url", default="", help="the callback handler's base URL (none: approve all)"
        )
        p.add_argument("--callback-public-key", type=Path, help="the handler's RSA public key (PEM file)")
        p.add_argument("--callback-cert", type=Path, help="the handler's TLS certificate to pin (PEM file)")

    p = sub.add_parser("hardware", help="create the simulated hardware profile and print what the SaaS needs")
    common(p, saas=False)
    p.add_argument("--host", default="cosigner", help="the host name in the profile")
    p.add_argument("--kind", choices=("sgx", "nitro", "gcp"), default="sgx", help="the enclave (default sgx)")
    p.add_argument("--cloud", help="nitro/gcp: the cloud services' URL (`cosigner-ha cloud serve`)")
    p.add_argument("--role", help="nitro/gcp: the instance's IAM role / service account")
    p.add_argument("--key-id", help="nitro/gcp: the KMS key")
    p.add_argument("--bucket", help="nitro/gcp: the bucket holding the database")
    p = sub.add_parser("setup", help="pair the first API user with a pairing token")
    common(p)
    p.add_argument("--token", required=True, help="the pairing token from the console")
    callback_options(p)
    p = sub.add_parser("add-user", help="pair another API user")
    common(p)
    p.add_argument("--token", required=True)
    callback_options(p)
    p = sub.add_parser("callback-update", help="change an API user's callback URL (owner approval)")
    common(p)
    p.add_argument("api_user", nargs="?", default=None)
    p.add_argument("--url", required=True)
    p.add_argument("--no-wait", action="store_true", help="return once the request is accepted")
    for name, text in (
        ("list-users", "list the paired API users"),
        ("print-public-key", "the callback JWT key"),
    ):
        common(sub.add_parser(name, help=text))
    p = sub.add_parser("logs", help="print the last N log lines")
    common(p, saas=False)
    p.add_argument("n", nargs="?", type=int, default=100)
    p = sub.add_parser("start", help="run the co-signer until interrupted")
    common(p)
    p.add_argument(
        "--token",
        default=None,
        help="GCP: the first API user's pairing token, as the deployment's metadata gives it (a GCP node has "
        "no setup command; it pairs at boot, its other users through the SaaS)",
    )
    callback_options(p)
    p.add_argument(
        "--clock-skew",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="shift the node's wall clock (tokens, JWTs, certificates) by SECONDS (a drill's clock-skew)",
    )

    cb = subparsers.add_parser("callback", help="the reference callback handler (runtime)")
    cbsub = cb.add_subparsers(dest="callback_command", required=True)
    p = cbsub.add_parser(
        "serve",
        help="serve the reference handler, or a scenario's handler: scripted, asgi or python (SCENARIO --handler NAME)",
    )
    p.add_argument("--bind", "--listen", dest="bind", default="127.0.0.1:8443", metavar="HOST:PORT")
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
    callback_serve.add_arguments(p)
    callback_check.register(cbsub)


def run(args: argparse.Namespace) -> int:
    """Run one command; exit code 0 done, 1 failed, 2 bad input (an argument, a file, the profile) or the
    SaaS unreachable."""
    try:
        if args.command == "callback" and args.callback_command == "check":
            return callback_check.run(args)
        if args.command == "callback" and args.scenario is not None:
            return callback_serve.run(args)
        if args.command == "callback":
            check_callback_options(args)
            anyio.run(serve_callback, args, backend="trio")
            return EXIT_OK
        check_node_options(args)
        return anyio.run(node_command, args, backend=getattr(args, "loop", "trio"))
    except BaseException as exc:  # task groups wrap what their tasks raise
        found = first_of(exc, (ValueError, OSError, NodeError))
        if found is None:
            raise
        print(f"error: {found}", file=sys.stderr)
        bad = isinstance(found, ValueError | OSError | Unreachable)
        return EXIT_BAD_INPUT if bad else EXIT_FAILED


def check_address(option: str, value: str) -> None:
    """A HOST:PORT option, checked before anything starts."""
    option_address(option, value)


def _check_file(option: str, path: Path | str | None) -> None:
    if path is not None:
        inputs.read_bytes(path, f"{option} file")


def check_node_options(args: argparse.Namespace) -> None:
    """What `node` is given, before the profile is read or anything connects."""
    if getattr(args, "saas", None) is not None:
        check_address("--saas", args.saas)
    for option in ("saas_cert", "callback_public_key", "callback_cert"):
        _check_file(f"--{option.replace('_', '-')}", getattr(args, option, None))
    if getattr(args, "node_command", None) == "logs" and args.n < 0:
        raise ValueError(f"logs: the number of lines must be 0 or more, got {shorten(args.n)}")


def check_callback_options(args: argparse.Namespace) -> None:
    """What `callback serve` is given, before it listens."""
    check_address("--bind", args.bind)
    if (args.cert is None) != (args.tls_key is None):
        raise ValueError("--cert and --tls-key go together: give both (HTTPS) or neither (HTTP)")
    for option, path in (("--cert", args.cert), ("--tls-key", args.tls_key), ("--jwt-key", args.jwt_key)):
        _check_file(option, path)
    for path in args.cosigner_key:
        _check_file("--cosigner-key", path)
    if not (math.isfinite(args.latency) and args.latency >= 0):
        raise ValueError(f"--latency: expected a finite number of seconds >= 0, got {shorten(args.latency)}")
    if args.reject_above_usd is not None and not (
        math.isfinite(args.reject_above_usd) and args.reject_above_usd >= 0
    ):
        raise ValueError(
            f"--reject-above-usd: expected a finite amount >= 0, got {shorten(args.reject_above_usd)}"
        )
    if args.retry_first < 0:
        raise ValueError(f"--retry-first: expected 0 or more, got {shorten(args.retry_first)}")


#: The node's durations a drill's time scale divides; token lifetimes (and so `token_margin`) are JWT claims
#: in whole wall-clock seconds and stay as they are, as on the SaaS side.
SCALED_DURATIONS = (
    "poll_interval",
    "poll_grace",
    "request_timeout",
    "backoff_min",
    "backoff_max",
    "drain_timeout",
)


def scaled_config(config: NodeConfig, scale: float) -> NodeConfig:
    """`config` with every duration divided by `scale` (`--time-scale`), so a drill runs faster."""
    if not scale > 0:
        raise ValueError(f"--time-scale {scale}: expected a number above 0")
    if scale == 1:
        return config
    changes: dict[str, Any] = {name: getattr(config, name) / scale for name in SCALED_DURATIONS}
    changes["callback"] = dataclasses.replace(
        config.callback,
        deadline=config.callback.deadline / scale,
        retry_interval=config.callback.retry_interval / scale,
    )
    return dataclasses.replace(config, **changes)


def _callback(args: argparse.Namespace) -> CallbackSettings:
    return CallbackSettings(
        url=args.callback_url,
        public_key=inputs.read_text(args.callback_public_key, "--callback-public-key file")
        if args.callback_public_key
        else "",
        certificate=inputs.read_text(args.callback_cert, "--callback-cert file")
        if args.callback_cert
        else "",
    )


def saas_network(certificate: Path | None) -> TcpNetwork:
    """TCP to the SaaS; with a certificate, TLS trusting that certificate only (pinned), whatever its name."""
    if certificate is None:
        return TcpNetwork()
    text = inputs.read_text(certificate, "--saas-cert file")
    try:
        context = ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"--saas-cert {certificate}: not a PEM certificate ({exc})") from None
    context.check_hostname = False  # pinned: the one certificate trusted is the check
    return TcpNetwork(ssl_context_client=context)


async def node_command(
    args: argparse.Namespace, *, network: Any = None, out: Callable[[str], None] = print
) -> int:
    """The `node` subcommands (a `network` other than TCP for tests)."""
    command = args.node_command
    if command == "hardware":
        cloud = {"kind": args.kind}
        if args.kind != "sgx":
            for field in ("cloud", "role", "key_id", "bucket"):
                if getattr(args, field) is None:
                    raise ValueError(f"--{field.replace('_', '-')}: required for a {args.kind} node")
                cloud[field] = getattr(args, field)
        hardware = Hardware.load(args.home, create=True, host=args.host, cloud=cloud)
        out(
            f"vendor public key (the SaaS attestation service's vendor_key): {hardware.vendor.public_key.hex()}"
        )
        out(
            f"enclave measurement {IMAGE_VERSION} (an expected measurement): {hardware.image.measurement.hex()}"
        )
        return EXIT_OK
    if command == "logs":
        hardware = Hardware.load(args.home)
        disk = LocalDisk(args.home / "disk")
        from cosigner_ha.node.logs import NodeLog

        log = NodeLog(Environment.runtime(), node=hardware.name, disk=disk)
        for line in log.tail(args.n):
            out(line)
        return EXIT_OK
    hardware = Hardware.load(args.home)
    if command != "start":  # a running node on this home carries it out: its database is open there
        answered = await admin_socket.ask_running(args.home, admin_request(args))
        if answered is not None:
            code, lines, error = answered
            for line in lines:
                out(line)
            if error is not None:
                raise (NodeError(error) if code == EXIT_FAILED else ValueError(error))
            return code
    with admin_socket.database_lock(args.home):
        if getattr(args, "trace", None) is not None:
            with args.trace.open("a", buffering=1) as sink:
                env = Environment.runtime(header={"role": "node"}, sink=sink)
                record_started(env, "node", args.name or hardware.name)
                return await _node_command(args, env, hardware, network, out)
        return await _node_command(args, Environment.runtime(), hardware, network, out)


def admin_request(args: argparse.Namespace) -> dict[str, Any]:
    """An admin command as the running node's admin socket takes it (file arguments read here)."""
    request: dict[str, Any] = {"command": args.node_command}
    if hasattr(args, "token"):
        request["token"] = args.token
    if hasattr(args, "callback_url"):
        settings = _callback(args)
        request["callback"] = {
            "url": settings.url,
            "public_key": settings.public_key,
            "certificate": settings.certificate,
        }
    if args.node_command == "callback-update":
        request.update(api_user=args.api_user, url=args.url, wait=not args.no_wait)
    return request


async def _node_command(
    args: argparse.Namespace,
    env: Environment,
    hardware: Hardware,
    network: Any,
    out: Callable[[str], None],
) -> int:
    command = args.node_command
    backend = hardware.backend()
    deployment: dict[str, Any] = {}
    if command == "start" and args.token is not None:
        if backend.local_admin:
            raise ValueError(
                f"node start --token: a {backend.kind} node is paired with `node setup`; --token is a GCP "
                "node's deployment pairing token"
            )
        deployment = {"initial_pairing_token": args.token, "initial_callback": _callback(args)}
    node = Node(
        env,
        name=args.name or hardware.name,
        backend=backend,
        network=network or saas_network(args.saas_cert),
        saas=args.saas,
        config=scaled_config(
            NodeConfig(cosigner_id=args.name or hardware.name, boot_retry=None),
            getattr(args, "time_scale", 1.0),
        ),
        callback_network=True,
        **deployment,
    )
    result = EXIT_OK
    failure: NodeError | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(node.run)
        if command == "start":
            if not math.isfinite(args.clock_skew):
                raise ValueError(f"--clock-skew {args.clock_skew}: expected a number of seconds")
            if args.clock_skew:
                _skew(node, args.clock_skew)

            async def answer(request: dict[str, Any]) -> tuple[int, list[str], str | None]:
                lines: list[str] = []
                return await _admin_request(node, request, lines.append), lines, None

            admin = anyio.CancelScope()

            async def admin_server(*, task_status: anyio.abc.TaskStatus[None]) -> None:
                with admin:
                    await admin_socket.serve(args.home, answer, task_status=task_status)

            await tasks.start(admin_server)
            await _serve_until_signal(node)
            admin.cancel()
            return EXIT_OK
        with anyio.fail_after(60):
            await node.wait_state("running", "failed", "crashed")
        try:
            if node.state != "running":
                unreachable = node.state_reason.startswith(f"{SaasUnreachable.__name__}:")
                kind = Unreachable if unreachable else NodeError
                failure = kind(f"the co-signer did not start: {node.state_reason}")
            else:
                result = await _admin_request(node, admin_request(args), out)
        except NodeError as exc:  # kept out of the task group, so it is not wrapped in an exception group
            failure = exc
        finally:
            node.shutdown()
    if failure is not None:
        raise failure
    return result


async def _admin_request(node: Node, request: dict[str, Any], out: Callable[[str], None]) -> int:
    """One admin command, from this process's arguments or from the admin socket of `node start`."""
    command = request["command"]
    if command == "pair":  # a launcher's pair fault, as the operator does it: once the node runs, setup
        await node.ready()  # on a node without API users, else add-user
        command = "add-user" if node.list_users() else "setup"
    if command in ("setup", "add-user"):
        token, settings = request.get("token"), request.get("callback") or {}
        if not isinstance(token, str) or not isinstance(settings, dict):
            raise ValueError(f"{command}: expected a pairing token and callback settings")
        callback = CallbackSettings(
            url=str(settings.get("url", "")),
            public_key=str(settings.get("public_key", "")),
            certificate=str(settings.get("certificate", "")),
        )
        pair = node.setup if command == "setup" else node.add_user
        _print_user_to(out, await pair(token, callback))
    elif command == "callback-update":
        api_user = request.get("api_user")
        out(await node.callback_update(str(request["url"]), api_user, wait=bool(request.get("wait", True))))
    elif command == "list-users":
        for user in node.list_users():
            _print_user_to(out, user)
    elif command == "print-public-key":
        out(node.print_public_key().rstrip())
    elif command == "callback-public-key":  # a drill's launcher: the handlers' trust, every enclave kind
        out(node.callback_public_key.rstrip())
    elif command == "clock-skew":  # a drill's clock-skew fault, on the running node
        seconds = request.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise ValueError(f"clock-skew: expected seconds (a number), got {seconds!r}")
        _skew(node, float(seconds))
        out(f"clock skew {float(seconds):g} s")
    else:
        raise ValueError(f"unknown admin command {command!r}")
    return EXIT_OK


def _print_user_to(out: Callable[[str], None], user: UserInfo) -> None:
    mode = user.callback_mode if user.callback_url else "none"
    state = "can sign" if user.can_sign else f"cannot sign: {user.reason}"
    out(
        f"{user.api_user}\tworkspace {user.workspace_id}\tcallback {user.callback_url or '-'} ({mode})\t{state}"
    )


def _skew(node: Node, seconds: float) -> None:
    """The node's wall view shifted by `seconds` (its timers keep the loop's clock), as a trace event."""
    node.env.clock.skew = seconds
    node.env.trace.record("clock_skew", node=node.name, seconds=seconds)


async def _serve_until_signal(node: Node) -> None:
    import signal

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            await node.stop()
            node.shutdown()
            return


async def serve_callback(
    args: argparse.Namespace, *, started: Callable[[list[str]], Awaitable[None]] | None = None
) -> None:
    key = None
    if args.jwt_key:
        key = load_private_key_pem(
            inputs.read_bytes(args.jwt_key, "--jwt-key file"), what=f"--jwt-key {args.jwt_key}"
        )
    cosigner_keys = [inputs.read_text(p, "--cosigner-key file") for p in args.cosigner_key]
    for path, text in zip(args.cosigner_key, cosigner_keys, strict=True):
        load_public_key_pem(text, what=str(path))
    handler = ReferenceHandler(
        HandlerRules(
            action=args.action,
            latency=args.latency,
            reject_above_usd=args.reject_above_usd,
            retry_first=args.retry_first,
        ),
        key=key,
        cosigner_keys=cosigner_keys,
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
