"""SaaS simulator throughput: signed transactions per wall second, end to end, against bare FROST.

The end-to-end run: the SaaS and three protocol-speaking test nodes on a simulated network (10 ms links),
TRANSACTIONS transactions submitted one per simulated second, each probed, dispatched, approved by the
node's callback, signed by the node and both cloud co-signers, aggregated and verified. The reference,
measured in the same run: the same number of 3-of-3 FROST signatures computed in one process with no
SaaS around them (commit x3, sign x3, aggregate, standard verification). The ratio is what the SaaS,
the network simulation, the wire codec and the nodes cost on top of the cryptography.

The wire codec on its own: the frames of one busy-desk transaction (the polls with their probe answers,
the probe and the signing request they bring back, the callback result with commitments, round two, the
signature share), encoded and decoded with every check, against bare msgpack on the same plain shapes
(the floor: no message classes, no checks).

    .venv/bin/python benchmarks/bench_saas.py [--codec-only]
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosigner_ha import mpc, wire
from cosigner_ha.env import Environment, SeededDrbg, simulate
from cosigner_ha.saas_sim import Status
from tests.saas_sim.harness import ready, running_world

TRANSACTIONS = 200
REPEATS = 3


def end_to_end() -> tuple[float, float]:
    """(wall seconds, simulated seconds) for TRANSACTIONS signed transactions."""
    out: list[tuple[float, float]] = []

    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            await ready(w)
            start_wall, start_sim = time.perf_counter(), env.clock.now()
            txs = []
            for i in range(TRANSACTIONS):
                txs.append(w.submit(amount=1 + i % 7))
                await env.clock.sleep(1.0)
            for tx in txs:
                await w.settle(tx)
            assert all(tx.status is Status.COMPLETED for tx in txs)
            out.append((time.perf_counter() - start_wall, env.clock.now() - start_sim))

    simulate(main, seed=2024)
    return out[0]


def bare_frost() -> float:
    rng = SeededDrbg(7).randbytes
    keys, public = mpc.trusted_dealer_keygen(3, [1, 2, 3], rng)
    verifier = Ed25519PublicKey.from_public_bytes(public.group_public_key)
    start = time.perf_counter()
    for i in range(TRANSACTIONS):
        message = i.to_bytes(32, "big")
        rounds = {j: mpc.commit(keys[j], rng) for j in keys}
        package = mpc.SigningPackage(message, {j: c for j, (_, c) in rounds.items()})
        shares = {j: mpc.sign(package, n, keys[j]) for j, (n, _) in rounds.items()}
        signature = mpc.aggregate(package, shares, public)
        verifier.verify(signature, message)
    return time.perf_counter() - start


def transaction_frames() -> list[wire.Message]:
    """What crosses the wire for one signed transaction on a busy desk (three nodes polling)."""
    token = "eyJhbGciOiJFZERTQSJ9." + "x" * 300 + ".sig"  # an access token's size
    user = "7113d0dd-2fb2-4f37-a50e-98d89a6f451c"
    answer = wire.Availability("probe-963", user, True)
    request = {
        "txId": "tx-321",
        "operation": "TRANSFER",
        "sourceType": "VAULT",
        "sourceId": "hot",
        "destType": "UNMANAGED",
        "destId": "partner-a",
        "asset": "ETH",
        "amount": 12.5,
        "amountStr": "12.5",
        "requestedAmountStr": "12.5",
        "destAddressType": "WHITELISTED",
        "destinations": [{"amountNative": 12.5, "dstId": "partner-a", "dstType": "UNMANAGED"}],
        "extraInfo": {"note": ""},
    }
    frames: list[wire.Message] = []
    for node in ("nitro-a", "nitro-b", "sgx-dc1"):
        frames += [
            wire.Poll(token, node, [user], []),
            wire.PollResult([wire.AvailabilityProbe("probe-963", "tx-321", user, 1767226012.28)]),
            wire.Poll(token, node, [user], [answer]),
        ]
    frames += [
        wire.PollResult(
            [wire.SignRequest("sess-1", "tx-321", user, request, b"m" * 32, [1, 2, 3], 1767226022.0)]
        ),
        wire.CallbackResult(token, "sess-1", "APPROVE", "", "", b"c" * 64),
        wire.SignRound2("sess-1", b"p" * 260),
        wire.SignatureShare(token, "sess-1", b"s" * 32),
    ]
    return frames


def _reference_plain(value: Any) -> Any:
    if isinstance(value, wire.Message):
        body = {f.name: _reference_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": value.TYPE, "body": body}
    if isinstance(value, list):
        return [_reference_plain(v) for v in value]
    return value


def codec(rounds: int = 100) -> None:
    """Frames per second through the codec, each way, against bare msgpack in the same run."""
    frames = transaction_frames()
    plains = [{"v": wire.PROTOCOL_VERSION, **_reference_plain(m)} for m in frames]
    payloads = [wire.encode(m) for m in frames]
    assert payloads == [msgpack.packb(p, use_bin_type=True) for p in plains], "the codec's bytes changed"
    assert [wire.decode(p) for p in payloads] == frames

    work: dict[str, Callable[[], object]] = {
        "encode": lambda: [wire.encode(m) for m in frames],
        "packb": lambda: [msgpack.packb(p, use_bin_type=True) for p in plains],
        "decode": lambda: [wire.decode(p) for p in payloads],
        "unpackb": lambda: [msgpack.unpackb(p, raw=False) for p in payloads],
    }
    best = dict.fromkeys(work, float("inf"))
    for _ in range(4 * REPEATS):  # interleaved, so that the machine's load falls on both sides alike
        for name, fn in work.items():
            start = time.perf_counter()
            for _ in range(rounds):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / (rounds * len(frames)))
    encode, packb, decode, unpackb = best["encode"], best["packb"], best["decode"], best["unpackb"]
    print(f"wire codec, the {len(frames)} frames of one busy-desk transaction:")
    print(
        f"  encode {encode * 1e6:5.2f} us/frame; bare msgpack {packb * 1e6:5.2f} (ratio {encode / packb:.2f})"
    )
    print(
        f"  decode {decode * 1e6:5.2f} us/frame; bare msgpack {unpackb * 1e6:5.2f} (ratio {decode / unpackb:.2f})"
    )


def main() -> None:
    codec()
    if "--codec-only" in sys.argv[1:]:
        return
    runs = [end_to_end() for _ in range(REPEATS)]
    wall = min(r[0] for r in runs)
    simulated = runs[0][1]
    frost = min(bare_frost() for _ in range(REPEATS))
    print(
        f"saas end to end: {TRANSACTIONS / wall:8.1f} signed tx/s (wall), {wall * 1000 / TRANSACTIONS:6.2f} ms/tx"
    )
    print(f"  simulated {simulated:.0f} s in {wall:.2f} s wall: {simulated / wall:.0f}x real time")
    print(f"  spread over {REPEATS} runs: {statistics.pstdev(r[0] for r in runs) * 1000:.0f} ms")
    print(
        f"bare FROST 3-of-3 (reference): {TRANSACTIONS / frost:8.1f} sig/s, {frost * 1000 / TRANSACTIONS:6.2f} ms/sig"
    )
    print(f"ratio end-to-end / bare FROST time per signature: {wall / frost:.2f}")


if __name__ == "__main__":
    main()
