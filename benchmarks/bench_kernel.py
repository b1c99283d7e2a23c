"""Virtual-time kernel: wakeups per second through the environment, bare trio and SimPy; framed round trips.

The model: TASKS processes, each sleeping an exponentially distributed time (mean 30 s, the long-poll
interval) WAKEUPS times. The three variants draw from identically seeded generators, so they do the same
work; the figure is wakeups per wall second, best of REPEATS.

    .venv/bin/python benchmarks/bench_kernel.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import simpy
import trio
import trio.testing

from cosigner_ha.env import Environment, run_simulated

TASKS = 100
WAKEUPS = 500
REPEATS = 5
MEAN = 30.0


def bare_trio() -> int:
    count = 0

    async def sleeper(rng: random.Random) -> None:
        nonlocal count
        for _ in range(WAKEUPS):
            await trio.sleep(rng.expovariate(1 / MEAN))
            count += 1

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for i in range(TASKS):
                nursery.start_soon(sleeper, random.Random(i))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return count


def through_env() -> int:
    count = 0

    async def sleeper(env: Environment) -> None:
        nonlocal count
        rng = env.rng("sleep")
        for _ in range(WAKEUPS):
            await env.clock.sleep(rng.expovariate(1 / MEAN))
            count += 1

    async def main(env: Environment) -> None:
        async with trio.open_nursery() as nursery:
            for i in range(TASKS):
                nursery.start_soon(sleeper, env.child(f"task-{i}"))

    run_simulated(main, Environment.simulated(1, keep_events=False))
    return count


def simpy_model() -> int:
    count = 0
    sim = simpy.Environment()

    def sleeper(rng: random.Random):  # type: ignore[no-untyped-def]
        nonlocal count
        for _ in range(WAKEUPS):
            yield sim.timeout(rng.expovariate(1 / MEAN))
            count += 1

    for i in range(TASKS):
        sim.process(sleeper(random.Random(i)))
    sim.run()
    return count


def rate(fn: Callable[[], int]) -> float:
    best = 0.0
    for _ in range(REPEATS):
        started = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - started))
    return best


def round_trips() -> float:
    """Framed request/response round trips per wall second over the simulated network (bench_net.py)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_net import simulated_round_trips

    result: float = simulated_round_trips()
    return result


def main() -> None:
    results = {
        "bare trio + MockClock": rate(bare_trio),
        "environment": rate(through_env),
        "SimPy": rate(simpy_model),
    }
    base = results["bare trio + MockClock"]
    print(f"virtual-time wakeups per wall second ({TASKS} tasks x {WAKEUPS} sleeps, best of {REPEATS})")
    for name, value in results.items():
        print(f"  {name:<24} {value:>12,.0f} /s   ratio to bare trio {base / value:5.2f}")
    overhead = base / results["environment"] - 1
    print(f"environment overhead over bare trio: {overhead:+.1%} (target <= +20%)")
    print(f"  median of the three: {statistics.median(results.values()):,.0f} /s")
    print(f"framed round trips over the simulated network (10 ms + jitter): {round_trips():,.0f} /s")


if __name__ == "__main__":
    main()
