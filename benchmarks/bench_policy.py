"""Per-decision latency of the policy engine on generated 50-rule and 1,000-rule policies.

    .venv/bin/python benchmarks/bench_policy.py [--transactions N] [--seed S] [--check]

A decision is `decide` then `record` (the SaaS does both per transaction), timed one by one with
perf_counter_ns after a warm-up, over a stream of transactions whose times advance so that the
amount-over-time windows fill and roll. The plain reference evaluator runs on a prefix of the same
stream in the same process, and the ratio of the medians is printed beside the figures. Targets: median
at most 10 us at 50 rules and 50 us at 1,000 rules (AWS Cedar decides in 4 to 11 us median).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from decimal import Decimal
from typing import Any

from cosigner_ha.policy import Directory, PolicyEngine, ReferenceEngine, Transaction, User, load_policy

TARGETS_US = {50: 10.0, 1000: 50.0}
ASSETS = ["BTC", "ETH", "USDC", "SOL", "MATIC", "DOT", "ATOM", "AVAX", "LINK", "XRP"]
OPERATIONS = ["TRANSFER", "TRANSFER", "TRANSFER", "CONTRACT_CALL", "RAW", "STAKE", "TYPED_MESSAGE"]


def workspace(rng: random.Random) -> Directory:
    console = [
        User(f"user-{i}", rng.choice(["ADMIN", "SIGNER", "OWNER" if i == 0 else "SIGNER"])) for i in range(10)
    ]
    api = [User(f"api-{i}", "SIGNER" if i % 5 else "EDITOR") for i in range(20)]
    signers = [u.name for u in api if u.role == "SIGNER"]
    groups = {f"cosigners-{g}": rng.sample(signers, 3) for g in range(4)}
    groups["approvers"] = [u.name for u in console[:4]]
    return Directory(
        users=console,
        api_users=api,
        groups=groups,
        vaults=[str(i) for i in range(50)],
        exchanges=[f"exch-{i}" for i in range(5)],
        fiat_accounts=[f"bank-{i}" for i in range(3)],
        wallets=[f"wallet-{i}" for i in range(30)],
        prices_usd={
            a: Decimal(rng.choice(["0.5", "1", "7.25", "30", "600", "3000", "60000"])) for a in ASSETS
        },
        eur_usd=Decimal("1.08"),
    )


def account(rng: random.Random, d: Directory, kinds: list[str]) -> str:
    kind = rng.choice(kinds)
    ids = {"vault": d.vaults, "exchange": d.exchanges, "fiat": d.fiat_accounts, "wallet": d.wallets}
    if kind == "one-time":
        return f"one-time:0x{rng.getrandbits(64):016x}"
    return f"{kind}:{rng.choice(ids[kind])}"


def rule(rng: random.Random, d: Directory) -> dict[str, Any]:
    """A rule like a large workspace's: mostly specific (one asset, one account, one team), some limits."""
    action = rng.choices(["ALLOW", "BLOCK", "2-TIER"], weights=[6, 2, 2])[0]
    r: dict[str, Any] = {"action": action}
    if rng.random() < 0.9:
        r["operation"] = rng.choice(OPERATIONS)
    if rng.random() < 0.7:
        r["asset"] = rng.choice(ASSETS)
    if rng.random() < 0.6:
        r["initiator"] = rng.sample([u.name for u in (*d.users, *d.api_users)], rng.randint(1, 3))
    if rng.random() < 0.8:
        kind = rng.choice(["vault", "vault", "vault", "exchange", "fiat"])
        r["source"] = (
            [f"{kind}:*"]
            if rng.random() < 0.2
            else [account(rng, d, [kind]) for _ in range(rng.randint(1, 3))]
        )
    if rng.random() < 0.6:
        r["destination"] = [
            account(rng, d, ["vault", "wallet", "exchange"]) for _ in range(rng.randint(1, 2))
        ]
    if rng.random() < 0.3:
        r["destination_address"] = rng.choice(["whitelisted", "one-time"])
    if rng.random() < 0.7:
        low = rng.choice([0, 100, 1000, 10000, 100000])
        r["amount"] = {"min": low, "currency": rng.choice(["USD", "USD", "EUR"])}
        if rng.random() < 0.3:
            r["amount"]["max"] = low * 10 + 1000
    if rng.random() < 0.2:  # amount over time
        r["amount"] = {"min": rng.choice([10000, 50000, 250000]), "currency": "USD"}
        r["over"] = {
            "window": rng.choice(["1h", "24h"]),
            "per": rng.sample(["initiator", "source", "destination"], rng.randint(0, 2)),
        }
    if action == "2-TIER":
        r["approvers"] = {"groups": [{"groups": ["approvers"], "threshold": rng.randint(1, 2)}]}
    if action != "BLOCK" and rng.random() < 0.8:
        single = "source" in r and all(not s.startswith("vault:") for s in r["source"])
        if single or rng.random() < 0.4:
            r["designated_signers"] = rng.choice([f"api-{i}" for i in range(20) if i % 5])
        else:
            r["designated_signers"] = {
                "groups": [rng.choice([g for g in d.groups if g.startswith("cosigners")])]
            }
    return r


def policy_rules(rng: random.Random, d: Directory, size: int) -> list[dict[str, Any]]:
    rules = [rule(rng, d) for _ in range(size - 2)]
    rules.append(
        {"action": "2-TIER", "approvers": {"groups": [{"groups": ["approvers"]}]}, "operation": "TRANSFER"}
    )
    rules.append({"action": "BLOCK"})
    return rules


def _pick(rng: random.Random, d: Directory, value: Any, kinds: list[str]) -> str:
    """A concrete account a rule's `source`/`destination` value accepts (any, when it names none)."""
    if not value:
        return account(rng, d, kinds)
    choice = rng.choice(value)
    kind, _, ident = choice.partition(":")
    return account(rng, d, [kind]) if ident == "*" else choice


def stream(rng: random.Random, d: Directory, count: int, rules: list[dict[str, Any]]) -> list[Transaction]:
    """Traffic shaped by the policy: 70% fits some rule's scope (its amount may or may not), 30% is random."""
    at = 0.0
    people = [u.name for u in (*d.users, *d.api_users)]
    found = []
    for _ in range(count):
        at += rng.expovariate(1 / 20)  # a transaction every 20 s on average: 24h windows hold ~4,000
        r = rng.choice(rules) if rng.random() < 0.7 else {}
        asset = r.get("asset") or rng.choice(ASSETS)
        usd = 10 ** rng.uniform(0, 6)
        destinations = ["vault", "wallet", "wallet", "exchange", "one-time"]
        address = r.get("destination_address")
        if address == "one-time":
            destination = account(rng, d, ["one-time"])
        else:
            if address == "whitelisted":
                destinations = ["vault", "wallet", "exchange"]
            destination = _pick(rng, d, r.get("destination"), destinations)
        found.append(
            Transaction(
                initiator=rng.choice(r.get("initiator") or people),
                operation=r.get("operation") or rng.choice(OPERATIONS),
                asset=asset,
                amount=Decimal(repr(round(usd / float(d.prices_usd[asset]), 6))),
                source=_pick(rng, d, r.get("source"), ["vault", "vault", "vault", "exchange", "fiat"]),
                destination=destination,
                at=at,
            )
        )
    return found


def time_decisions(
    engine: PolicyEngine | ReferenceEngine, txs: list[Transaction], warmup: int
) -> list[float]:
    clock = time.perf_counter_ns
    samples: list[float] = []
    gc.collect()
    for i, tx in enumerate(txs):
        start = clock()
        engine.record(tx, engine.decide(tx))
        elapsed = clock() - start
        if i >= warmup:
            samples.append(elapsed / 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, default=20000, help="timed decisions per policy")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--check", action="store_true", help="exit 1 when a median misses its target")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    d = workspace(random.Random(args.seed))
    results = []
    for size, reference_count in ((50, 2000), (1000, 300)):
        rng = random.Random(
            args.seed * 100_003 + size
        )  # the policy and stream of one size never shift the other
        raw = policy_rules(rng, d, size)
        policy = load_policy({"rules": raw}, d, origin=f"generated-{size}")
        warmup = 5000
        txs = stream(rng, d, warmup + args.transactions, raw)
        fast = time_decisions(PolicyEngine(policy, d), txs, warmup)
        # the same prefix through both evaluators, from empty ledgers, for the ratio and a consistency check
        prefix = txs[:reference_count]
        fast_prefix = time_decisions(PolicyEngine(policy, d), prefix, 0)
        slow_prefix = time_decisions(ReferenceEngine(policy, d), prefix, 0)
        a, b = PolicyEngine(policy, d), ReferenceEngine(policy, d)
        for tx in prefix:
            da, db = a.decide(tx), b.decide(tx)
            if da != db:
                print(f"MISMATCH at {tx}: {da} != {db}", file=sys.stderr)
                return 2
            a.record(tx, da)
            b.record(tx, db)
        results.append(
            {
                "rules": size,
                "windowed_rules": sum(1 for r in policy.rules if r.window is not None),
                "decisions": len(fast),
                "median_us": statistics.median(fast),
                "p99_us": percentile(fast, 0.99),
                "target_median_us": TARGETS_US[size],
                "reference_decisions": len(prefix),
                "reference_median_us": statistics.median(slow_prefix),
                "fast_median_same_prefix_us": statistics.median(fast_prefix),
                "speedup_vs_reference": statistics.median(slow_prefix) / statistics.median(fast_prefix),
            }
        )
    missed = [r for r in results if r["median_us"] > r["target_median_us"]]
    if args.json:
        print(json.dumps({"seed": args.seed, "results": results}, indent=2))
    else:
        print(
            f"policy engine, per decision (decide + record), seed {args.seed}, "
            f"Python {sys.version.split()[0]}"
        )
        print(
            f"{'rules':>6} {'windowed':>8} {'n':>7} {'median us':>10} {'p99 us':>9} {'target':>8} "
            f"{'ref n':>6} {'ref median us':>14} {'speedup':>8}"
        )
        for r in results:
            verdict = "met" if r["median_us"] <= r["target_median_us"] else "MISSED"
            target = "<=" + format(r["target_median_us"], "g")
            print(
                f"{r['rules']:>6} {r['windowed_rules']:>8} {r['decisions']:>7} {r['median_us']:>10.2f} "
                f"{r['p99_us']:>9.2f} {target:>8} {r['reference_decisions']:>6} "
                f"{r['reference_median_us']:>14.1f} {r['speedup_vs_reference']:>7.1f}x  {verdict}"
            )
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
