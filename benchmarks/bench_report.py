"""Cost of the reports and of `cosigner-ha analyze` on large generated inputs.

    .venv/bin/python benchmarks/bench_report.py [--sizes 1000,10000,100000] [--seed S] [--json]

Reports: a generated run of N transactions over 24 simulated hours on 5 nodes (two of them down for a
while, a dozen faults), each completed transaction one signature. Timed: `latency_stats` (reference: the
standard library's `statistics.quantiles` on the same values), the terminal summary rendered to a
recording console, `report_json_text`, and `render_html` (reference: plotly's own `to_html` of one bare
scatter trace with as many points as the page draws, the floor any plotly page pays).

Analysis: a generated scenario of 3 providers x 4 regions x 3 zones x 4 nodes (144 nodes, one API user
each) and 50 ALLOW rules, each designating a group of 3 to 12 API users. Timed: `analyze` (reference:
building the workspace, loading the policy and linting it with the topology, which `analyze` does too). Targets: a 100,000-transaction summary under 1 s and
page under 15 s, a 144-node analysis under 1 s.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from cosigner_ha.cluster.analyze import analyze, scenario_policy
from cosigner_ha.cluster.report import (
    Check,
    Failover,
    FaultSpan,
    NodeLane,
    RunReport,
    SignatureMark,
    TxPoint,
    latency_stats,
    render_html,
    render_summary,
    report_json_text,
)
from cosigner_ha.cluster.scenario import load_scenario_text, scenario_to_dict
from cosigner_ha.policy import Directory, lint

DAY = 86400.0
NODES = [
    ("nitro-a", "aws/us-east-1/a", False),
    ("nitro-b", "aws/us-east-1/b", False),
    ("gcp-a", "gcp/europe-west1/b", False),
    ("nitro-c", "aws/eu-west-1/a", False),
    ("sgx-dc1", "onprem/dc1", True),
]
DOWN = {"nitro-a": ((3600.0, 7200.0), (40000.0, 41000.0)), "nitro-b": ((3600.0, 7200.0),)}


def best_of(runs: int, fn: Callable[[], Any]) -> float:
    """The fastest of `runs` timings, in seconds (the least disturbed by the shared machine)."""
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def generated_report(n: int, seed: int) -> RunReport:
    rng = random.Random(seed)
    points: list[TxPoint] = []
    marks: list[SignatureMark] = []
    for i in range(n):
        t = rng.uniform(0, DAY)
        if rng.random() < 0.02:
            points.append(TxPoint(t, t, "BLOCKED", "BLOCKED_BY_POLICY", None, None))
            continue
        up = [
            name
            for name, _, standby in NODES
            if not standby and not any(a <= t < b for a, b in DOWN.get(name, ()))
        ]
        node = rng.choice(up) if up else "sgx-dc1"
        latency = 0.2 + rng.expovariate(2.0)
        points.append(TxPoint(t, t + latency, "COMPLETED", None, latency, node))
        marks.append(SignatureMark(t + latency, node, f"tx-{i}", f"signer-{node}"))
    points.sort(key=lambda p: p.t_submitted)
    marks.sort(key=lambda m: m.t)
    by_status: dict[str, int] = {}
    for p in points:
        by_status[p.status] = by_status.get(p.status, 0) + 1
    signed: dict[str, int] = {}
    for m in marks:
        signed[m.node] = signed.get(m.node, 0) + 1
    faults = tuple(
        FaultSpan(
            s,
            s + rng.uniform(60, 3600),
            rng.choice(["crash", "pause", "latency", "loss"]),
            "nitro-a",
            ("nitro-a",),
        )
        for s in sorted(rng.uniform(0, DAY) for _ in range(12))
    )
    return RunReport(
        scenario="bench",
        seed=seed,
        trace_hash="00" * 32,
        simulated_seconds=DAY,
        wall_seconds=10.0,
        transactions_total=len(points),
        by_status=by_status,
        by_sub_status={"BLOCKED_BY_POLICY": by_status.get("BLOCKED", 0)},
        latency=latency_stats(p.latency for p in points if p.latency is not None),
        signed_by=signed,
        failovers=(Failover(3600.0, "nitro-a", "gcp-a", 3.2),),
        invariants={"no_double_sign": Check(True, "ok")},
        expectations={"min_completed_ratio": Check(True, "ok")},
        passed=True,
        lanes=tuple(
            NodeLane(name, "nitro", site, standby, DOWN.get(name, ())) for name, site, standby in NODES
        ),
        faults=faults,
        signatures=tuple(marks),
        transactions=tuple(points),
    )


def bench_report(n: int, seed: int) -> dict[str, Any]:
    import plotly.graph_objects as go
    import plotly.io as pio

    report = generated_report(n, seed)
    values = [p.latency for p in report.transactions if p.latency is not None]
    stats = best_of(5, lambda: latency_stats(values))
    stats_ref = best_of(5, lambda: statistics.quantiles(values, n=100, method="inclusive"))

    def summary() -> None:
        render_summary(report, Console(file=io.StringIO(), width=110, record=True))

    summary_s = best_of(3, summary)
    json_s = best_of(3, lambda: report_json_text(report))
    runs = 1 if n > 20_000 else 2
    html_s = best_of(runs, lambda: render_html(report))
    points = len(report.signatures) + len(values)
    xs = [float(i) for i in range(points)]
    bare = go.Figure(go.Scattergl(x=xs, y=xs) if points > 10_000 else go.Scatter(x=xs, y=xs))
    html_ref = best_of(runs, lambda: pio.to_html(bare, include_plotlyjs=True, full_html=True))
    size = len(render_html(report).encode())
    return {
        "transactions": n,
        "latency_stats_s": stats,
        "statistics_quantiles_s": stats_ref,
        "summary_s": summary_s,
        "json_s": json_s,
        "html_s": html_s,
        "html_bytes": size,
        "bare_plotly_html_s": html_ref,
    }


def generated_scenario(seed: int) -> str:
    rng = random.Random(seed)
    lines = [
        '[scenario]\nname = "bench"\nseed = 1\nduration = "1h"\n\n[workspace]\nname = "w"\nvaults = ["hot"]\n'
    ]
    names = []
    for p in ("aws", "gcp", "azure"):
        for r in range(4):
            for z in "abc":
                for k in range(4):
                    names.append((f"{p}-{r}{z}-{k}", f"{p}/r{r}/{z}"))
    for i, _ in enumerate(names):
        lines.append(f'[[api_users]]\nname = "u{i}"\nrole = "SIGNER"\n')
    groups = []
    for g in range(50):
        members = rng.sample(range(len(names)), rng.randint(3, 12))
        groups.append(members)
        listed = ", ".join(f'"u{m}"' for m in members)
        lines.append(f'[[groups]]\nname = "g{g}"\nmembers = [{listed}]\n')
    for i, (name, site) in enumerate(names):
        standby = "true" if i % 7 == 0 else "false"
        lines.append(
            f'[[nodes]]\nname = "{name}"\nenclave = "nitro"\nsite = "{site}"\napi_users = ["u{i}"]\nstandby = {standby}\n'
        )
    for g in range(50):
        lines.append(
            f'[[policy.rules]]\naction = "ALLOW"\nsource = "vault:hot"\ndesignated_signers = {{ groups = ["g{g}"] }}\n'
        )
    return "".join(lines)


def bench_analysis(seed: int) -> dict[str, Any]:
    scenario = load_scenario_text(generated_scenario(seed), "bench.toml")
    analysis = analyze(scenario)

    def policy_part() -> None:
        """What analyze must do anyway: the workspace, the policy and its lint with the topology."""
        directory = Directory.from_scenario(scenario_to_dict(scenario))
        policy, _ = scenario_policy(scenario, directory)
        lint(policy, directory, {k: list(v) for k, v in scenario.api_users_by_node().items()})

    return {
        "nodes": len(scenario.nodes),
        "rules": len(analysis.rules),
        "analyze_s": best_of(5, lambda: analyze(scenario)),
        "policy_lint_s": best_of(5, policy_part),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reports = [bench_report(int(n), args.seed) for n in args.sizes.split(",")]
    analysis = bench_analysis(args.seed)
    if args.json:
        json.dump({"reports": reports, "analysis": analysis}, sys.stdout, indent=2)
        print()
        return
    print("reports (best of several runs, seconds)")
    print(
        f"{'transactions':>12} {'latency_stats':>14} {'quantiles':>10} {'ratio':>6} {'summary':>8} {'json':>7} {'html':>7} {'bare':>7} {'ratio':>6} {'page MB':>8}"
    )
    for r in reports:
        print(
            f"{r['transactions']:>12,} {r['latency_stats_s']:>14.4f} {r['statistics_quantiles_s']:>10.4f}"
            f" {r['latency_stats_s'] / r['statistics_quantiles_s']:>6.2f} {r['summary_s']:>8.3f}"
            f" {r['json_s']:>7.4f} {r['html_s']:>7.2f} {r['bare_plotly_html_s']:>7.2f}"
            f" {r['html_s'] / r['bare_plotly_html_s']:>6.2f} {r['html_bytes'] / 1e6:>8.1f}"
        )
    a = analysis
    print(
        f"analysis: {a['nodes']} nodes, {a['rules']} rules: analyze {a['analyze_s'] * 1000:.1f} ms, "
        f"workspace + policy + lint alone {a['policy_lint_s'] * 1000:.1f} ms"
        f" (ratio {a['analyze_s'] / a['policy_lint_s']:.2f})"
    )


if __name__ == "__main__":
    main()
