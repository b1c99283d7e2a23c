"""Node benchmarks: what the co-signer adds per signature, per database change and per callback.

Each figure comes with a reference measured in the same run, and the ratio:

1. signature share with bookkeeping (round one, checks, nonce persisted to the sealed ledger on a
   simulated disk, round two) vs bare `mpc.commit` + `mpc.sign`;
2. the same after 5,000 consumed nonces in the ledger (the ledger is rewritten whole, atomically);
3. a sealed database commit (3 API users, SGX layout with a backup snapshot) vs AES-GCM of the same bytes;
4. a callback round trip through the in-process ASGI transport with RS256 JWTs both ways (the reference
   handler) vs a Python-callable handler.

Usage: .venv/bin/python benchmarks/bench_node.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable

import trio
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cosigner_ha import mpc
from cosigner_ha.cluster.infra import SimDisk
from cosigner_ha.env import Environment, SeededDrbg, run_simulated
from cosigner_ha.handler.reference import HandlerRules, ReferenceHandler
from cosigner_ha.node.callback import CallbackClient, HandlerDirectory, InProcessHandler
from cosigner_ha.node.database import Database, Layout
from cosigner_ha.node.party import Signer
from cosigner_ha.node.records import CallbackSettings, Secrets, UserRecord, encode_record
from cosigner_ha.node.rsa_keys import generate_rsa_key, public_key_pem
from cosigner_ha.node.storage import DiskBlobStore

LAYOUT = Layout(secrets="db/secrets.db", ledger="db/nonces.db", journal="db/nonces.log", backups="backup")


def rate(n: int, fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - started)


def setup(seed: int = 1) -> tuple[dict[int, mpc.KeyPackage], mpc.PublicKeyPackage, SeededDrbg]:
    rand = SeededDrbg(seed)
    keys, public = mpc.trusted_dealer_keygen(3, [1, 2, 3], rand.randbytes)
    return keys, public, rand


def package_for(
    signer_commitments: mpc.SigningCommitments, others: dict[int, mpc.SigningCommitments]
) -> mpc.SigningPackage:
    return mpc.SigningPackage(b"message", {1: signer_commitments, **others})


def bench_signing(n: int, preload: int) -> tuple[float, float]:
    keys, public, rand = setup()
    wall = [0.0]
    db = Database.open(
        DiskBlobStore(SimDisk(), "/databases/cosigner"),
        bytes(32),
        randbytes=rand.randbytes,
        wall=lambda: wall[0],
        layout=LAYOUT,
    )
    db.commit(Secrets("cs", "SGX", b"t" * 32, b""))
    for k in range(preload):
        db.consume(k.to_bytes(32, "big"))
    signer = Signer("u", keys[1], public)
    others = {j: mpc.commit(keys[j], rand.randbytes)[1] for j in (2, 3)}
    count = [0]

    def node_share() -> None:
        count[0] += 1
        session = f"s{count[0]}"
        mine = signer.commit(session, b"message", rand.randbytes)
        signer.sign(session, package_for(mine, others).to_bytes(), db.consume)
        signer.drop(session)

    def bare_share() -> None:
        nonces, mine = mpc.commit(keys[1], rand.randbytes)
        mpc.sign(package_for(mine, others), nonces, keys[1])

    return rate(n, node_share), rate(n, bare_share)


def bench_commit(n: int) -> tuple[float, float]:
    rand = SeededDrbg(2)
    wall = [1_767_225_600.0]
    db = Database.open(
        DiskBlobStore(SimDisk(), "/databases/cosigner"),
        bytes(32),
        randbytes=rand.randbytes,
        wall=lambda: wall[0],
        layout=LAYOUT,
        keep_backups=50,
    )
    user = UserRecord(
        "u", "ws", 1, b"k" * 120, b"p" * 200, b"g" * 32, b"c" * 32, "r" * 300, CallbackSettings(), 0.0, 1
    )
    secrets = Secrets(
        "cs",
        "SGX",
        b"t" * 32,
        b"r" * 1200,
        users=tuple(dataclasses.replace(user, api_user=f"u{i}") for i in range(3)),
    )
    plain = encode_record(secrets)
    aes = AESGCM(bytes(32))

    def commit() -> None:
        wall[0] += 1
        db.commit(secrets)

    return rate(n, commit), rate(n, lambda: aes.encrypt(rand.randbytes(12), plain, b""))


def bench_callback(n: int) -> tuple[float, float]:
    node_key = generate_rsa_key(SeededDrbg(3).randbytes)
    handler = ReferenceHandler(
        HandlerRules(),
        key=generate_rsa_key(SeededDrbg(4).randbytes),
        cosigner_keys=[public_key_pem(node_key)],
    )
    body = {
        "txId": "tx",
        "requestId": "tx",
        "asset": "ETH",
        "amount": 1,
        "destinations": [{"amountUSD": 3000}],
    }

    async def main(env: Environment) -> tuple[float, float]:
        directory = HandlerDirectory()
        directory.register("https://asgi.example", InProcessHandler(app=handler.app))
        directory.register("https://fn.example", InProcessHandler(function=lambda b: handler.decide(b)))
        client = CallbackClient(env, node="bench", signing_key=lambda: node_key, directory=directory)
        asgi = CallbackSettings(url="https://asgi.example", public_key=handler.public_key)
        fn = dataclasses.replace(asgi, url="https://fn.example")
        out = []
        for settings in (asgi, fn):
            started = time.perf_counter()
            for _ in range(n):
                await client.ask("tx", "u", settings, body)
            out.append(n / (time.perf_counter() - started))
        await client.aclose()
        return out[0], out[1]

    return run_simulated(main, Environment.simulated(5, keep_events=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    n = 100 if args.quick else 1000
    rows = []
    node, bare = bench_signing(n, 0)
    rows.append(("signature share, node bookkeeping (empty ledger)", node, "bare mpc commit+sign", bare))
    node, bare = bench_signing(n, 5000 if not args.quick else 500)
    rows.append(("signature share, ledger of 5,000 consumed nonces", node, "bare mpc commit+sign", bare))
    commit, aes = bench_commit(n)
    rows.append(("sealed database commit + backup snapshot", commit, "AES-GCM of the same record", aes))
    asgi, fn = bench_callback(n // 2)
    rows.append(("callback, ASGI in-process, RS256 JWT both ways", asgi, "Python-callable handler", fn))
    print(f"{'measure':<52} {'per s':>10}   {'reference':<28} {'per s':>10} {'ratio':>7}")
    for name, value, ref_name, ref in rows:
        print(f"{name:<52} {value:>10,.0f}   {ref_name:<28} {ref:>10,.0f} {ref / value:>6.1f}x")
    _ = trio  # the simulated runs above use trio through env.run_simulated


if __name__ == "__main__":
    main()
