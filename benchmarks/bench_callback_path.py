"""One callback round trip as the busy desk makes it, against the cryptography it cannot avoid.

The node's `CallbackClient.ask` (trace events, log lines, the answer deadline) asks the bundled reference
handler (Starlette, served on the simulation's trio loop through httpx's in-process ASGI transport) with
its latency slept in virtual time and three trusted co-signer keys, in public-key mode: the node signs the
request JWT, the handler verifies it and signs an answer JWT, the node verifies that. The reference,
measured in the same run: those four PyJWT RS256 operations straight-line. Times are this process's CPU
time (the machine is shared). The overhead is the time per round trip above the reference's; the ratio is
round trip / reference.

    .venv/bin/python benchmarks/bench_callback_path.py            # 1,000 round trips, 5 rounds
    .venv/bin/python benchmarks/bench_callback_path.py --n 300 --rounds 3

Figures: docs/performance.md, section "Callback handlers".
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.env import Environment, simulate
from cosigner_ha.handler.reference import HandlerRules, ReferenceHandler
from cosigner_ha.node import jws
from cosigner_ha.node.callback import CallbackClient, HandlerDirectory, InProcessHandler
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import public_key_pem

URL = "https://callback-risk.sim"


def body(i: int) -> dict[str, Any]:
    return {
        "txId": f"tx-{i}",
        "requestId": f"5e0c9d2a-3f4b-4a51-9d0e-{i:012d}",
        "operation": "TRANSFER",
        "asset": "ETH",
        "amountStr": "0.5",
        "signerId": "signer-a",
        "destinations": [{"amountUSD": 1500.0}],
    }


def crypto_only(node: rsa.RSAPrivateKey, handler: rsa.RSAPrivateKey, n: int) -> float:
    """Seconds per round trip of the four RS256 operations alone (decoded as the run decodes them)."""
    node_public, handler_public = node.public_key(), handler.public_key()
    started = time.process_time()
    for i in range(n):
        token = jwt.encode(body(i), node, algorithm="RS256")
        request = jws.decode(token, node_public, algorithms=["RS256"])
        answer = jwt.encode(
            {"action": "APPROVE", "requestId": request["requestId"]}, handler, algorithm="RS256"
        )
        jws.decode(answer, handler_public, algorithms=["RS256"])
    return (time.process_time() - started) / n


def round_trips(node_key: rsa.RSAPrivateKey, handler_key: rsa.RSAPrivateKey, n: int) -> float:
    """Seconds of wall time per `ask` round trip through the reference handler."""
    others = [
        public_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)) for _ in range(2)
    ]
    elapsed = 0.0

    async def run(env: Environment) -> None:
        nonlocal elapsed

        async def sleep(seconds: float) -> None:
            await env.clock.sleep(seconds)

        reference = ReferenceHandler(
            HandlerRules(latency=0.15),
            key=handler_key,
            cosigner_keys=[*others, public_key_pem(node_key)],
            sleep=sleep,
        )
        directory = HandlerDirectory()
        directory.register(URL, InProcessHandler(app=reference.app))
        client = CallbackClient(env, node="bench", signing_key=lambda: node_key, directory=directory)
        settings = CallbackSettings(url=URL, public_key=reference.public_key)
        await client.ask("tx", "signer-a", settings, body(-1))  # warm up: routes, key caches
        started = time.process_time()
        for i in range(n):
            decision = await client.ask("tx", "signer-a", settings, body(i))
            assert decision.action == "APPROVE"
        elapsed = time.process_time() - started

    simulate(run, seed=1)
    return elapsed / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="round trips per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    args = parser.parse_args()
    node_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    handler_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    trips: list[float] = []
    crypto: list[float] = []
    for _ in range(args.rounds):
        trips.append(round_trips(node_key, handler_key, args.n))
        crypto.append(crypto_only(node_key, handler_key, args.n))
    trip, ref = statistics.median(trips), statistics.median(crypto)
    print(f"round trips per round: {args.n}, rounds: {args.rounds} (medians)")
    print(f"reference (the 4 RS256 operations, straight-line): {ref * 1e6:8.1f} us")
    print(f"ask -> reference handler -> answer:                 {trip * 1e6:8.1f} us")
    print(f"overhead above the cryptography:                    {(trip - ref) * 1e6:8.1f} us")
    print(f"round trip / reference:                             {trip / ref:8.3f}")


if __name__ == "__main__":
    main()
