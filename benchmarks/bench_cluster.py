"""Cluster simulation speed, and the simulator's overhead per signed transaction against its cryptography.

Two runs of the real simulator (`run_scenario`, full cryptography, the invariant checks included):

- the bundled default, `scenarios/active-active-passive.toml` (6 simulated hours, 2 transactions a minute,
  a zone outage then a region outage), best of `--runs`;
- one simulated day at one transaction per second: the same file with `duration = "1d"` and the workload's
  `rate = "1/s"` (everything else, faults and expectations included, as written). Skipped with `--quick`.

For each: simulated seconds per wall second, signed transactions per wall second, wall time per signed
transaction, and the simulator's overhead per signed transaction (wall per signed transaction minus the
cryptography of one transaction) as a ratio to that cryptography.

The reference, measured in the same process with the same libraries and keys of the same kinds: the
cryptography one signed transaction performs in the run, straight-line with nothing around it: FROST
3-of-3 as the run does it (the node's commitments and the SaaS's signing package and share travel as bytes:
a peer's hiding commitment is validated on decoding, its binding commitment by the multiplication ρ_i·E_i that
uses it, the node's own excepted; the two cloud co-signers commit, and sign in one `SigningSession` with the
aggregator, built when the node's commitments arrive, their nonce terms folded into one base-point
multiplication; the SaaS aggregates, which verifies with libsodium's standard verifier, and the run's invariant
checker verifies the signature again with OpenSSL's), the node sealing the consumed nonce id to its journal (AES-GCM), the callback's RS256 JWTs both ways (node signs, handler verifies, handler signs,
node verifies), and the SaaS's EdDSA access tokens at the rate the run issues and verifies them (the SaaS
verifies a token's signature once, on first use, then only its expiry and revocation). To show that this
is the work the run really does, the script counts the cryptographic library calls of one default run and
of the reference (cProfile, an extra run) and prints both per signed transaction.

    .venv/bin/python benchmarks/bench_cluster.py            # the default, then one simulated day (~15 min)
    .venv/bin/python benchmarks/bench_cluster.py --quick    # the default scenario only (~1 min)
    .venv/bin/python benchmarks/bench_cluster.py --against 7843ec3          # the busy-desk hour, both sides
    .venv/bin/python benchmarks/bench_cluster.py --against 7843ec3 --quick  # ten busy minutes (< 1 min)
    .venv/bin/python benchmarks/bench_cluster.py --memory [--day]  # peak memory, busy desk 1 h vs 4 h

With `--against REV` the script installs commit REV into a temporary environment (same libraries as this
one) and times both on the same scenario file, `benchmarks/scenarios/busy-desk.toml` unless `--scenario`
says otherwise: fresh processes, the two sides alternating, medians of wall and CPU time, their ratio,
and each side's overhead against the cryptography measured in this process between the runs.

Figures and a profile summary: docs/performance.md, section "Cluster simulation".
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import against  # noqa: E402  (benchmarks/against.py, beside this script)

from cosigner_ha import mpc, wire  # noqa: E402
from cosigner_ha.cluster import runner  # noqa: E402
from cosigner_ha.cluster.scenario import Scenario, load_scenario, scenario_from_dict  # noqa: E402
from cosigner_ha.env import Event, SeededDrbg, Trace  # noqa: E402
from cosigner_ha.node import jws, rsa_keys  # noqa: E402
from cosigner_ha.node.sealing import seal  # noqa: E402

DEFAULT = ROOT / "cosigner_ha" / "scenarios" / "active-active-passive.toml"
BUSY_DESK = ROOT / "benchmarks" / "scenarios" / "busy-desk.toml"
NODE_ID, CLOUD_IDS = wire.NODE_IDENTIFIER, wire.CLOUD_IDENTIFIERS  # the share set's participants
JWT_OPTIONS = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False}

# ------------------------------------------------------------------------------ the reference: cryptography


@dataclasses.dataclass
class Material:
    """Keys of the kinds a run uses, from a seeded DRBG, and one transaction's request body."""

    keys: dict[int, mpc.KeyPackage]
    public: mpc.PublicKeyPackage
    rand: Callable[[int], bytes]
    consumed: mpc.ConsumedNonces
    node_rsa: Any
    node_rsa_public: Any
    handler_rsa: Any
    handler_rsa_public: Any
    handler_kid: str
    node_kid: str
    sealing_key: bytes
    saas_key: Ed25519PrivateKey
    saas_public: Ed25519PublicKey
    body: dict[str, Any]
    counter: int = 0


def material(seed: int = 7) -> Material:
    drbg = SeededDrbg(seed)
    keys, public = mpc.trusted_dealer_keygen(3, (NODE_ID, *CLOUD_IDS), drbg.randbytes)
    node_rsa = rsa_keys.generate_rsa_key(drbg.child("node-rsa").randbytes)
    handler_rsa = rsa_keys.generate_rsa_key(drbg.child("handler-rsa").randbytes)
    saas_key = Ed25519PrivateKey.from_private_bytes(drbg.randbytes(32))
    # the shape and size of the `tx_sign_request` body the SaaS builds (saas_sim/sign_request.py callback_request)
    body: dict[str, Any] = {
        "txId": "tx-1",
        "requestId": "tx-1",
        "externalTxId": "withdrawals-1",
        "operation": "TRANSFER",
        "sourceType": "VAULT",
        "sourceId": "hot",
        "destType": "UNMANAGED",
        "destId": "partner-a",
        "asset": "ETH",
        "amount": 12.345678,
        "amountStr": "12.345678",
        "requestedAmount": 12.345678,
        "requestedAmountStr": "12.345678",
        "destAddressType": "WHITELISTED",
        "destAddress": "partner-a",
        "signerId": "5f0c7f7e-3b0e-4c84-9b43-6f6d0c3f1a52",
        "note": "",
        "players": ["5f0c7f7e-3b0e-4c84-9b43-6f6d0c3f1a52"],
        "destinations": [
            {
                "amountNative": 12.345678,
                "amountNativeStr": "12.345678",
                "amountUSD": 37037.034,
                "dstAddressType": "WHITELISTED",
                "dstId": "partner-a",
                "dstName": "partner-a",
                "dstType": "UNMANAGED",
                "dstSubType": "EXTERNAL",
                "displayDstAddress": "partner-a",
                "action": "ALLOW",
                "actionInfo": {
                    "capturedRuleNum": 0,
                    "rulesSnapshotId": 1,
                    "byGlobalPolicy": False,
                    "byRule": True,
                    "capturedRule": '{"index":0}',
                },
            }
        ],
        "rawTx": [{"keyDerivationPath": "[44,0,0,0,0]", "rawTx": "", "payload": "00" * 32}],
    }
    return Material(
        keys=keys,
        public=public,
        rand=drbg.child("nonces").randbytes,
        consumed=mpc.ConsumedNonces(),
        node_rsa=node_rsa,
        node_rsa_public=node_rsa.public_key(),
        handler_rsa=handler_rsa,
        handler_rsa_public=handler_rsa.public_key(),
        handler_kid=rsa_keys.thumbprint(handler_rsa),
        node_kid=rsa_keys.thumbprint(node_rsa),
        sealing_key=drbg.randbytes(32),
        saas_key=saas_key,
        saas_public=saas_key.public_key(),
        body=body,
    )


def one_transaction(m: Material) -> bytes:
    """The cryptography of one signed transaction, in the order the run does it, with nothing around it."""
    m.counter += 1
    message = m.counter.to_bytes(32, "big")
    body = dict(m.body, txId=f"tx-{m.counter}", requestId=f"tx-{m.counter}")
    # callback: the node signs the request, the handler verifies it and signs its answer, the node verifies
    # (both verify with `node/jws.py`, PyJWT's decoder with its alphabet check in C, as the run does)
    request = jwt.encode(body, m.node_rsa, algorithm="RS256", headers={"kid": m.node_kid})
    seen = jws.decode(request, m.node_rsa_public, algorithms=["RS256"], options=JWT_OPTIONS)
    answer = {"action": "APPROVE", "requestId": seen["requestId"]}
    token = jwt.encode(answer, m.handler_rsa, algorithm="RS256", headers={"kid": m.handler_kid})
    jws.decode(token, m.handler_rsa_public, algorithms=["RS256"], options=JWT_OPTIONS)
    # round one: the node commits; the SaaS decodes that (hiding point validated), the cloud co-signers commit,
    # and one session for both cloud co-signers and the aggregator is built (their nonce terms folded; the
    # node's binding point validated by its multiplication)
    nonces, commitments = mpc.commit(m.keys[NODE_ID], m.rand)
    received = {NODE_ID: mpc.SigningCommitments.from_bytes(commitments.to_bytes())}
    cloud_nonces = {}
    for i in CLOUD_IDS:
        cloud_nonces[i], received[i] = mpc.commit(m.keys[i], m.rand)
    package = mpc.SigningPackage(message, received)
    session = mpc.SigningSession(package, m.public, local_nonces=list(cloud_nonces.values()))
    # round two: the node decodes the package and signs, sealing the consumed nonce id to its journal first
    node_package = mpc.SigningPackage.from_bytes(package.to_bytes(), known=(commitments,))

    def persist(nonce_id: bytes) -> None:
        seal(m.sealing_key, {"kind": "nonce"}, nonce_id, m.rand)

    share = mpc.sign_once(node_package, nonces, m.keys[NODE_ID], persist=persist)
    shares = {NODE_ID: mpc.SignatureShare.from_bytes(share.to_bytes())}
    # the SaaS: the cloud co-signers' shares, then the aggregate, verified inside (libsodium)
    for i in CLOUD_IDS:
        shares[i] = session.sign(cloud_nonces[i], m.keys[i], persist=m.consumed.mark)
    signature = session.aggregate(shares)
    # the invariant checker's independent verification of the signed event (OpenSSL)
    Ed25519PublicKey.from_public_bytes(m.public.group_public_key).verify(signature, message)
    return signature


def access_token(m: Material) -> None:
    """An access token issued and verified once (EdDSA JWT), as the SaaS does per token, not per request."""
    token = jwt.encode({"iss": "cosigner-ha-saas", "typ": "access", "sub": "nitro-a"}, m.saas_key, "EdDSA")
    jwt.decode(token, m.saas_public, algorithms=["EdDSA"], options={"verify_exp": False})


def per_call(
    fn: Callable[[], object],
    seconds: float = 0.4,
    rounds: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Best (quietest) mean seconds per call over `rounds` rounds of about `seconds` each, on `clock`."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        n, start = 0, clock()
        while (elapsed := clock() - start) < seconds or n < 5:
            fn()
            n += 1
        best = min(best, elapsed / n)
    return best


# ------------------------------------------------------------------------------------------ the runs


def one_day(scenario_path: Path) -> Scenario:
    """The default scenario for one simulated day at one transaction per second."""
    data = tomllib.loads(scenario_path.read_text())
    data["scenario"]["duration"] = "1d"
    for workload in data["workload"]:
        workload["rate"] = "1/s"
    return scenario_from_dict(data, f"{scenario_path.name} (1d at 1/s)", base_dir=scenario_path.parent)


@contextlib.contextmanager
def plain_progress(every: float) -> Iterator[None]:
    """Progress as plain lines (when stderr is not a terminal): the runner's bar, in a form logs keep."""

    @contextlib.contextmanager
    def lines(trace: Trace, duration: float, console: Console, label: str, **_: Any) -> Iterator[None]:
        started, origin, shown = time.perf_counter(), [None], [0.0]

        def on_event(event: Event) -> None:
            if origin[0] is None:
                if event.kind != "scenario_start":
                    return
                origin[0] = event.t
            t = event.t - origin[0]
            if t - shown[0] >= every:
                shown[0] = t
                wall = time.perf_counter() - started
                print(
                    f"    {label}: {t / 3600:5.1f} h of {duration / 3600:g} h simulated, "
                    f"{trace.count:,} events, {wall:6.0f} s wall",
                    file=sys.stderr,
                    flush=True,
                )

        trace.subscribe(on_event)
        yield

    original = runner.simulated_time_progress
    runner.simulated_time_progress = lines  # type: ignore[assignment]
    try:
        yield
    finally:
        runner.simulated_time_progress = original  # type: ignore[assignment]


@dataclasses.dataclass
class RunFigures:
    name: str
    wall: float  # run_scenario, analysis and invariant checks included
    cpu: float  # this process's CPU time over the same span (other jobs on the machine do not inflate it)
    simulated: float
    signed: int
    transactions: int
    passed: bool
    trace_hash: str
    token_issues: int

    @property
    def wall_per_signed(self) -> float:
        return self.wall / self.signed


@contextlib.contextmanager
def _consumed(consumer: Callable[[Event], None]) -> Iterator[None]:
    """Every trace made inside the block also feeds `consumer` each event as it is written."""
    init = Trace.__init__

    def patched(self: Trace, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.consume(consumer)

    Trace.__init__ = patched  # type: ignore[method-assign]
    try:
        yield
    finally:
        Trace.__init__ = init  # type: ignore[method-assign]


def run_once(scenario: Scenario, label: str, *, progress_every: float | None = None) -> RunFigures:
    rsa_keys._key_from_seed.cache_clear()  # every run pays its RSA key generation, as a fresh process does
    console = Console(stderr=True)
    progress = (
        plain_progress(progress_every)
        if progress_every is not None and not console.is_terminal
        else contextlib.nullcontext()
    )
    issues = 0

    def count(event: Event) -> None:  # the run keeps no events: count the token issues as they are written
        nonlocal issues
        issues += event.kind == "token_refreshed"

    with progress, _consumed(count):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = runner.run_scenario(scenario, console=console if progress_every is not None else None)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    report = result.report
    return RunFigures(
        name=label,
        wall=wall,
        cpu=cpu,
        simulated=report.simulated_seconds,
        signed=sum(report.signed_by.values()),
        transactions=report.transactions_total,
        passed=report.passed,
        trace_hash=report.trace_hash,
        token_issues=issues,
    )


# ------------------------------------------------------------------------------ counting library calls

#: cProfile names of the cryptographic library calls a transaction makes, and how the table shows them.
PRIMITIVES = (
    ("_sodium.crypto_scalarmult_ed25519_noclamp>", "libsodium variable-base mult"),
    ("_sodium.crypto_scalarmult_ed25519_base_noclamp>", "libsodium base-point mult"),
    ("_sodium.crypto_core_ed25519_add>", "libsodium point add"),
    ("_sodium.crypto_core_ed25519_is_valid_point>", "libsodium point validation"),
    ("_sodium.crypto_sign_open>", "libsodium Ed25519 verify"),
    ("'verify' of 'cryptography.hazmat.bindings._rust.openssl.ed25519.Ed25519PublicKey'", "Ed25519 verify"),
    ("'sign' of 'cryptography.hazmat.bindings._rust.openssl.ed25519.Ed25519PrivateKey'", "Ed25519 sign"),
    ("'sign' of 'cryptography.hazmat.bindings._rust.openssl.rsa.RSAPrivateKey'", "RSA-2048 sign"),
    ("'verify' of 'cryptography.hazmat.bindings._rust.openssl.rsa.RSAPublicKey'", "RSA-2048 verify"),
    ("'encrypt' of 'cryptography.hazmat.bindings._rust.openssl.aead.AESGCM'", "AES-GCM seal"),
    ("'decrypt' of 'cryptography.hazmat.bindings._rust.openssl.aead.AESGCM'", "AES-GCM open"),
)


def count_calls(fn: Callable[[], object]) -> dict[str, int]:
    profile = cProfile.Profile()
    profile.runcall(fn)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    counts = dict.fromkeys((label for _, label in PRIMITIVES), 0)
    for (_, _, name), (_, calls, *_rest) in stats.items():
        for needle, label in PRIMITIVES:
            if needle in name:
                counts[label] += calls
    return counts


# ------------------------------------------------------------------------------------------ the report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def figures_table(runs: list[RunFigures], crypto: float, token: float) -> list[dict[str, Any]]:
    rows = []
    for r in runs:
        per_tx_crypto = crypto + token * r.token_issues / r.signed
        overhead = r.wall_per_signed - per_tx_crypto
        cpu_overhead = r.cpu / r.signed - per_tx_crypto
        rows.append(
            {
                "scenario": r.name,
                "transactions": r.transactions,
                "signed": r.signed,
                "passed": r.passed,
                "trace_hash": r.trace_hash,
                "wall_seconds": round(r.wall, 2),
                "cpu_seconds": round(r.cpu, 2),
                "simulated_seconds": round(r.simulated, 1),
                "simulated_per_wall": round(r.simulated / r.wall, 1),
                "signed_per_wall_second": round(r.signed / r.wall, 1),
                "wall_ms_per_signed": round(r.wall_per_signed * 1000, 3),
                "crypto_ms_per_signed": round(per_tx_crypto * 1000, 3),
                "overhead_ms_per_signed": round(overhead * 1000, 3),
                "overhead_ratio": round(overhead / per_tx_crypto, 2),
                "overhead_ratio_cpu": round(cpu_overhead / per_tx_crypto, 2),
            }
        )
    return rows


def quick_busy_desk(path: Path, workdir: Path) -> Path:
    """The same file cut to ten simulated minutes, its crash moved inside them (for `--quick`)."""
    data = tomllib.loads(path.read_text())
    text = path.read_text().replace('duration = "1h"', 'duration = "10m"')
    text = text.replace('at = "20m"', 'at = "3m"').replace('for = "5m"', 'for = "2m"')
    if tomllib.loads(text)["scenario"]["duration"] == data["scenario"]["duration"]:
        raise SystemExit(f"--quick: {path} has no 'duration = \"1h\"' line to shorten; pass a short file")
    short = workdir / f"quick-{path.name}"
    short.write_text(text)
    return short


def lengthened(path: Path, workdir: Path, duration: str) -> Path:
    """The same file run for `duration` (its faults and expectations as written), for `--memory`."""
    text = path.read_text()
    data = tomllib.loads(text)
    longer = text.replace(f'duration = "{data["scenario"]["duration"]}"', f'duration = "{duration}"', 1)
    if tomllib.loads(longer)["scenario"]["duration"] != duration:
        raise SystemExit(f"--memory: cannot find the scenario's duration line in {path}")
    out = workdir / f"{duration}-{path.name}"
    out.write_text(longer)
    return out


def one_day_file(workdir: Path) -> Path:
    """`one_day(DEFAULT)` as a file, for a fresh process: the default scenario, 1 d at 1/s."""
    text = DEFAULT.read_text()
    data = tomllib.loads(text)
    text = text.replace(f'duration = "{data["scenario"]["duration"]}"', 'duration = "1d"', 1)
    for workload in data["workload"]:
        text = text.replace(f'rate = "{workload["rate"]}"', 'rate = "1/s"')
    out = workdir / "one-day-at-1-per-second.toml"
    out.write_text(text)
    if tomllib.loads(text)["scenario"]["duration"] != "1d":
        raise SystemExit("--day: cannot rewrite the default scenario's duration")
    return out


def memory(args: argparse.Namespace, say: Callable[[str], None]) -> None:
    """`--memory`: peak memory (max RSS) of the busy desk for 1 h and 4 h, each in a fresh process of this
    tree, and their ratio; with `--day` also the one-day run at 1 tx/s (wall time and peak)."""
    with against.temporary_workdir() as tmp:
        workdir = Path(tmp)
        files = [
            ("1 h", lengthened(args.scenario, workdir, "1h")),
            ("4 h", lengthened(args.scenario, workdir, "4h")),
        ]
        if args.day:
            files.append(("one day at 1/s", one_day_file(workdir)))
        peaks: dict[str, against.Timed] = {}
        for label, path in files:
            say(f"{label}: {path.name} in a fresh process ...")
            r = peaks[label] = against.timed_run(Path(sys.executable), path, workdir)
            say(
                f"  {r.wall:7.1f} s wall, {r.cpu:7.1f} s CPU, {r.signed:,} signed of {r.transactions:,}, "
                f"passed={r.passed}, peak {r.peak_mb:.0f} MB, trace {r.trace_hash[:16]}"
            )
    ratio = peaks["4 h"].peak_mb / peaks["1 h"].peak_mb
    say(f"peak memory 4 h / 1 h: {ratio:.2f} (target at most 1.3)")
    if args.day:
        day = peaks["one day at 1/s"]
        say(
            f"one day at 1/s: {day.wall:.0f} s wall (target under 300), peak {day.peak_mb:.0f} MB (target 300)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": {label: dataclasses.asdict(r) for label, r in peaks.items()},
                    "peak_ratio_4h_1h": round(ratio, 3),
                    "load_average": os.getloadavg(),
                },
                indent=2,
            )
        )


def compare(args: argparse.Namespace, say: Callable[[str], None]) -> None:
    """`--against REV`: this tree and commit REV on one scenario file, alternating fresh processes."""
    m = material()
    crypto: list[float] = []  # wall seconds per transaction's cryptography
    crypto_cpu: list[float] = []  # the same on this process's CPU time (what other jobs do not inflate)
    with against.temporary_workdir() as tmp:
        workdir = Path(tmp)
        scenario = args.scenario.resolve()
        if args.quick:
            scenario = quick_busy_desk(scenario, workdir)
        say(f"installing {args.against} into a temporary environment ...")
        sides = {
            args.against: against.prepare(ROOT, args.against, workdir),
            "this tree": Path(sys.executable),
        }
        say(f"scenario {scenario.name}; {args.runs} runs per side, alternating, fresh processes")
        results: dict[str, list[against.Timed]] = {name: [] for name in sides}
        for i in range(args.runs):
            order = list(sides) if i % 2 == 0 else list(sides)[::-1]
            for name in order:
                r = against.timed_run(sides[name], scenario, workdir)
                results[name].append(r)
                say(
                    f"  run {i + 1} {name:>10}: {r.wall:6.2f} s wall, {r.cpu:6.2f} s CPU, {r.signed} signed, "
                    f"passed={r.passed}, peak {r.peak_mb:.0f} MB, trace {r.trace_hash[:16]}"
                )
            crypto.append(per_call(lambda: one_transaction(m), seconds=0.2, rounds=3))
            crypto_cpu.append(
                per_call(lambda: one_transaction(m), seconds=0.2, rounds=3, clock=time.process_time)
            )
    per_tx, per_tx_cpu = min(crypto), min(crypto_cpu)
    rows = {}
    for name, runs in results.items():
        hashes = {r.trace_hash for r in runs}
        if len(hashes) != 1:
            raise SystemExit(f"{name}: the same scenario gave different traces: {sorted(hashes)}")
        wall, cpu = statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs)
        signed = runs[0].signed
        rows[name] = {
            "wall_median": round(wall, 3),
            "cpu_median": round(cpu, 3),
            "signed": signed,
            "transactions": runs[0].transactions,
            "passed": all(r.passed for r in runs),
            "trace_hash": runs[0].trace_hash,
            "peak_mb": round(max(r.peak_mb for r in runs), 1),
            "wall_ms_per_signed": round(wall / signed * 1000, 3),
            "overhead_ratio": round((wall / signed - per_tx) / per_tx, 2),
            "overhead_ratio_cpu": round((cpu / signed - per_tx_cpu) / per_tx_cpu, 2),
        }
    ref, cur = rows[args.against], rows["this tree"]
    say("")
    say(
        f"cryptography per transaction (this process, best of {len(crypto)}): {ms(per_tx)} wall, "
        f"{ms(per_tx_cpu)} CPU"
    )
    say(f"{'':30}{args.against:>18}{'this tree':>18}")
    for key in rows[args.against]:
        say(f"{key:30}{str(ref[key])[:16]:>18}{str(cur[key])[:16]:>18}")
    speed_wall = ref["wall_median"] / cur["wall_median"]
    speed_cpu = ref["cpu_median"] / cur["cpu_median"]
    same = "identical" if ref["trace_hash"] == cur["trace_hash"] else "DIFFERENT"
    say(f"speed-up, median wall: {speed_wall:.2f}x; median CPU: {speed_cpu:.2f}x (target 2x)")
    say(f"trace hashes: {same}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "against": args.against,
                    "scenario": scenario.name,
                    "crypto_ms_per_transaction": round(per_tx * 1000, 4),
                    "crypto_cpu_ms_per_transaction": round(per_tx_cpu * 1000, 4),
                    "sides": rows,
                    "runs": {name: [dataclasses.asdict(r) for r in rs] for name, rs in results.items()},
                    "speedup_wall": round(speed_wall, 3),
                    "speedup_cpu": round(speed_cpu, 3),
                    "load_average": os.getloadavg(),
                },
                indent=2,
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the default scenario only (no one-day run)")
    parser.add_argument("--runs", type=int, default=3, help="runs of the default scenario; the best counts")
    parser.add_argument(
        "--no-count", action="store_true", help="skip the library-call count (a profiled run)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--against", metavar="REV", help="time this tree against commit REV, side by side")
    parser.add_argument(
        "--scenario", type=Path, default=BUSY_DESK, help="the scenario file of --against (busy desk)"
    )
    parser.add_argument(
        "--memory", action="store_true", help="peak memory of the busy desk for 1 h and 4 h (fresh processes)"
    )
    parser.add_argument("--day", action="store_true", help="with --memory: also the one-day run at 1 tx/s")
    args = parser.parse_args()

    say = lambda text: print(text, flush=True)  # noqa: E731
    if args.memory:
        say(f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} at the start")
        memory(args, say)
        say(f"load average {os.getloadavg()[0]:.1f} at the end")
        return
    if args.against:
        say(f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} at the start")
        compare(args, say)
        say(f"load average {os.getloadavg()[0]:.1f} at the end")
        return
    m = material()
    default = load_scenario(DEFAULT)

    def reference() -> tuple[float, float]:
        return per_call(lambda: one_transaction(m)), per_call(lambda: access_token(m), seconds=0.1)

    say(f"python {sys.version.split()[0]}, {DEFAULT.relative_to(ROOT)}")
    say("reference: one transaction's cryptography, straight-line (best of 5 rounds) ...")
    references = [reference()]
    say(f"  {ms(references[0][0])} per transaction; access token issue + verify {ms(references[0][1])}")

    say("command: cosigner-ha run (default scenario, a fresh process, as `make demo`) ...")
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "cosigner-ha"), "run", str(DEFAULT)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    command_wall = time.perf_counter() - started
    say(f"  {command_wall:.1f} s wall (target: under 30 s)")

    default_runs = []
    for i in range(args.runs):
        say(f"default scenario, run {i + 1} of {args.runs} (in process) ...")
        figures = run_once(default, "default (6 h, 2/min)")
        default_runs.append(figures)
        say(f"  {figures.wall:.2f} s wall, {figures.signed} signed, passed={figures.passed}")
        references.append(reference())
    runs = [min(default_runs, key=lambda r: r.wall)]
    hashes = {r.trace_hash for r in default_runs}
    if len(hashes) != 1:
        raise SystemExit(f"the default scenario gave different traces in one process: {sorted(hashes)}")

    if not args.quick:
        day = one_day(DEFAULT)
        say("one simulated day at 1 transaction per second (86,400 transactions; several minutes) ...")
        figures = run_once(day, "one day at 1/s", progress_every=3600.0)
        runs.append(figures)
        say(f"  {figures.wall:.1f} s wall, {figures.signed} signed, passed={figures.passed}")
        references.append(reference())

    crypto = min(r[0] for r in references)
    token = min(r[1] for r in references)
    rows = figures_table(runs, crypto, token)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    say("")
    say(f"reference (same process, best of {len(references)} measurements): {ms(crypto)} per transaction")
    say(f"{'':34}" + "".join(f"{r['scenario'][:22]:>24}" for r in rows))
    for key, label in (
        ("transactions", "transactions"),
        ("signed", "signed"),
        ("wall_seconds", "wall seconds"),
        ("cpu_seconds", "CPU seconds"),
        ("simulated_per_wall", "simulated s per wall s"),
        ("signed_per_wall_second", "signed tx per wall s"),
        ("wall_ms_per_signed", "wall ms per signed tx"),
        ("crypto_ms_per_signed", "cryptography ms per signed tx"),
        ("overhead_ms_per_signed", "overhead ms per signed tx"),
        ("overhead_ratio", "overhead / cryptography"),
        ("overhead_ratio_cpu", "  the same on CPU time"),
    ):
        say(f"{label:34}" + "".join(f"{r[key]:>24}" for r in rows))
    say(f"peak memory (max RSS) {peak:.0f} MB")
    say("")
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    say(
        f"target: default scenario under 30 s wall: {verdict(command_wall < 30 and rows[0]['wall_seconds'] < 30)} "
        f"(command {command_wall:.1f} s, in process {rows[0]['wall_seconds']} s)"
    )
    for r in rows:
        say(
            f"target: overhead at most 2x the cryptography, {r['scenario']}: "
            f"{verdict(r['overhead_ratio'] <= 2)} ({r['overhead_ratio']})"
        )

    counts: dict[str, Any] = {}
    if not args.no_count:
        say("")
        say("counting library calls (cProfile): one default run and 200 reference transactions ...")
        rsa_keys._key_from_seed.cache_clear()
        holder: list[RunFigures] = []
        run_counts = count_calls(lambda: holder.append(run_once(default, "default (6 h, 2/min)")))
        signed = holder[0].signed
        fresh = material()
        ref_counts = count_calls(lambda: [one_transaction(fresh) for _ in range(200)])
        say(f"{'library call, per signed transaction':40}{'default run':>14}{'reference':>12}")
        for label in run_counts:
            run_n, ref_n = run_counts[label] / signed, ref_counts[label] / 200
            if run_n or ref_n:
                say(f"{label:40}{run_n:>14.2f}{ref_n:>12.2f}")
        counts = {"run": run_counts, "reference_per_200": ref_counts, "signed": signed}

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "reference_ms_per_transaction": round(crypto * 1000, 4),
                    "access_token_ms": round(token * 1000, 4),
                    "command_wall_seconds": round(command_wall, 2),
                    "runs": rows,
                    "peak_rss_mb": round(peak),
                    "library_calls": counts,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
