"""Signing capacity: signing p99 against offered load for 1, 2 and 3 co-signers, drawn from simulated runs.

Each point is one seeded run of the bundled `capacity-saturation` topology (Nitro nodes computing one
MPC round at a time, one second a round: at most 30 transactions a minute each) with N nodes and the
workload at the offered rate, for DURATION of simulated time. The reference in the same run is the
analytic capacity, N x 30 tx/min: a curve should stay flat below it and climb past it. Prints a table
and writes the figure to docs/images/capacity-p99.svg.

    .venv/bin/python benchmarks/bench_capacity.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import load_scenario_text
from cosigner_ha.node.capacity import SigningCapacity

ROUND = SigningCapacity(sessions=1, round_time=1.0)
PER_NODE = ROUND.rate * 60  # transactions a minute one node can sign
RATES = (10, 20, 30, 40, 50, 60, 75, 90)  # offered transactions a minute
#: Points beyond this multiple of a curve's capacity are left out: deep in saturation the p99 is the run's
#: length, and every queued transaction is probed again and again (slow to simulate, nothing to learn).
BEYOND = 1.4
DURATION = "4m"
FIGURE = Path(__file__).resolve().parent.parent / "docs" / "images" / "capacity-p99.svg"


def scenario_text(nodes: int, rate: int, duration: str) -> str:
    """The capacity-saturation topology with `nodes` nodes and the workload at `rate` a minute."""
    signers = [f"signer-{i}" for i in range(nodes)]
    parts = [
        f'[scenario]\nname = "capacity-{nodes}x-{rate}"\nseed = 11\nduration = "{duration}"\n',
        '[workspace]\nname = "acme"\nprices_usd = { ETH = 3000 }\nvaults = ["hot"]\nwallets = ["partner-a"]\n',
        '[[users]]\nname = "owner"\nrole = "OWNER"\n',
        '[[api_users]]\nname = "ops"\nrole = "EDITOR"\n',
    ]
    for i, signer in enumerate(signers):
        parts.append(f'[[api_users]]\nname = "{signer}"\nrole = "SIGNER"\n')
        parts.append(
            f'[[nodes]]\nname = "nitro-{i}"\nenclave = "nitro"\nsite = "aws/us-east-1/z{i}"\n'
            f'api_users = ["{signer}"]\nsigning_sessions = {ROUND.sessions}\n'
            f'signing_round_time = "{ROUND.round_time:g}s"\n'
        )
    names = ", ".join(f'"{s}"' for s in signers)
    parts.append(f'[[policy.rules]]\naction = "ALLOW"\ndesignated_signers = {{ users = [{names}] }}\n')
    parts.append(
        f'[[workload]]\nname = "w"\nrate = "{rate}/min"\ninitiator = "ops"\nasset = "ETH"\n'
        'amount = { min = 0.01, max = 5 }\nsource = "vault:hot"\ndestination = "wallet:partner-a"\n'
    )
    parts.append("[expect]\nall_terminal = false\n")
    return "\n".join(parts)


def measure(nodes: int, rate: int, duration: str) -> tuple[float | None, int, int, float]:
    """(p99 seconds, completed, submitted, wall seconds) of one run."""
    started = time.perf_counter()
    report = run_scenario(load_scenario_text(scenario_text(nodes, rate, duration))).report
    completed = report.by_status.get("COMPLETED", 0)
    return report.latency.p99, completed, report.transactions_total, time.perf_counter() - started


def draw(curves: dict[int, list[tuple[int, float | None]]]) -> None:
    import matplotlib  # dev dependency: only this benchmark draws an image

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for nodes, points in curves.items():
        xs = [r for r, p in points if p is not None]
        ys = [p for _, p in points if p is not None]
        (line,) = ax.plot(xs, ys, marker="o", label=f"{nodes} co-signer{'s' if nodes > 1 else ''}")
        ax.axvline(nodes * PER_NODE, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("offered load (transactions a minute)")
    ax.set_ylabel("signing p99 (s, log scale)")
    ax.set_title(f"Signing p99 vs offered load (dotted: N x {PER_NODE:g} tx/min capacity; {DURATION} runs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, metadata={"Date": None})
    plt.close(fig)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    rates = RATES[::3] if quick else RATES
    duration = "2m" if quick else DURATION
    curves: dict[int, list[tuple[int, float | None]]] = {}
    print(
        f"{'nodes':>5} {'offered/min':>11} {'capacity/min':>12} {'p99 s':>8} {'completed':>12} {'wall s':>7}"
    )
    for nodes in (1, 2, 3):
        for rate in rates:
            if rate > BEYOND * nodes * PER_NODE:
                continue
            p99, done, total, wall = measure(nodes, rate, duration)
            curves.setdefault(nodes, []).append((rate, p99))
            shown = "-" if p99 is None else f"{p99:.1f}"
            print(
                f"{nodes:>5} {rate:>11} {nodes * PER_NODE:>12g} {shown:>8} {done:>5}/{total:<6} {wall:>7.1f}",
                flush=True,
            )
    if not quick:
        draw(curves)
        print(f"figure: {FIGURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
