"""SaaS simulator throughput: signed transactions per wall second, end to end, against bare FROST.

The end-to-end run: the SaaS and three protocol-speaking test nodes on a simulated network (10 ms links),
TRANSACTIONS transactions submitted one per simulated second, each probed, dispatched, approved by the
node's callback, signed by the node and both cloud co-signers, aggregated and verified. The reference,
measured in the same run: the same number of 3-of-3 FROST signatures computed in one process with no
SaaS around them (commit x3, sign x3, aggregate, standard verification). The ratio is what the SaaS,
the network simulation, the wire codec and the nodes cost on top of the cryptography.

    .venv/bin/python benchmarks/bench_saas.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosigner_ha import mpc
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


def main() -> None:
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
