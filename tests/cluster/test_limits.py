"""Bounded work (issue 14, item 3): a scenario whose run would take days or all the memory is refused
before it starts, within seconds, with the key that takes it there, the estimate and `--no-limits`."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.bundled import SCENARIOS, bundled_names, find_scenario, load
from cosigner_ha.cluster.limits import DEFAULT_LIMITS, estimate, problems
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import Workload, load_scenario_text
from cosigner_ha.cluster.workloads import BATCH_CHECKPOINT, run_workload
from cosigner_ha.env import Environment, run_simulated

BASE = (SCENARIOS / "single-cosigner.toml").read_text()
BURST = """
[[workload]]
name = "burst"
at = "1m"
count = 9223372036854775807
initiator = "ops"
asset = "ETH"
amount = { min = 0.01, max = 5 }
source = "vault:hot"
destination = "wallet:partner-a"
"""
NODES = "".join(
    f'[[nodes]]\nname = "n{i}"\nenclave = "nitro"\nsite = "aws/us-east-1/a"\napi_users = []\n\n'
    for i in range(1000)
)

#: name -> (scenario text, what the refusal names)
HOSTILE: dict[str, tuple[str, list[str]]] = {
    "count": (BASE + BURST, ["workload[1] 'burst' (count = 9223372036854775807)", "limit of 50,000"]),
    "duration": (
        BASE.replace('duration = "20m"', 'duration = "100000d"'),
        ["scenario.duration = 100000d", "node-days (limit 1,000)", "long polls"],
    ),
    "rate": (
        BASE.replace('duration = "20m"', 'duration = "3h"').replace('rate = "1/min"', 'rate = "1000/s"'),
        ["workload[0] 'withdrawals' (rate = '1000/s' for 3h)", "10,800,000 transactions"],
    ),
    "poll": (
        BASE.replace("[workspace]", '[saas]\nlong_poll_interval = "1ms"\n\n[workspace]'),
        ["saas.long_poll_interval = 1ms: shorter than the limit of 1s"],
    ),
    "nodes": (BASE.replace("[[policy.rules]]", NODES + "[[policy.rules]]"), ["[[nodes]]: 1001 nodes"]),
}


def write(folder: Path, name: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(HOSTILE[name][0])
    return path


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_run_refuses_a_runaway_scenario_within_seconds(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, name)
    report = tmp_path / "r.json"
    started = time.perf_counter()
    assert main(["run", str(path), "--json", str(report)]) == 2
    assert time.perf_counter() - started < 10
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: the run is too large to start:")
    for needle in HOSTILE[name][1]:
        assert needle in err, err
    assert "estimate: about" in err and "--no-limits runs it anyway" in err and "docs/scenarios.md" in err
    assert "Traceback" not in err and not report.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["explore", "{path}", "--budget", "1", "--engine", "local", "--out", "{out}"],
        ["sweep", "{path}", "--seeds", "1..3", "--engine", "local", "--json", "{out}"],
        ["up", "{path}", "--timeline", "--api", "127.0.0.1:0", "--workdir", "{work}"],
    ],
    ids=["explore", "sweep", "up"],
)
def test_explore_sweep_and_up_refuse_it_too(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, out, work = write(tmp_path, "count"), tmp_path / "out.toml", tmp_path / "work"
    args = [a.format(path=path, out=out, work=work) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the run is too large to start" in err and "--no-limits" in err
    assert not out.exists() and not work.exists()


def test_up_without_its_timeline_checks_nodes_and_polls_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert problems(load_scenario_text(HOSTILE["count"][0]), timeline=False) == []
    path = write(tmp_path, "poll")
    assert main(["up", str(path), "--api", "127.0.0.1:0", "--workdir", str(tmp_path / "w")]) == 2
    assert "saas.long_poll_interval = 1ms" in capsys.readouterr().err


def test_no_limits_lifts_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a short run with a fast long poll: refused by default, runs with --no-limits
    text = BASE.replace('duration = "20m"', 'duration = "3m"').replace(
        "[workspace]",
        '[saas]\nlong_poll_interval = "500ms"\nauthorization_timeout = "5m"\nsigning_timeout = "5m"\n\n'
        "[workspace]",
    )
    path = tmp_path / "fast-poll.toml"
    path.write_text(text)
    assert main(["run", str(path)]) == 2
    assert "saas.long_poll_interval = 500ms" in capsys.readouterr().err
    assert main(["run", str(path), "--no-limits"]) == 0
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("name", bundled_names())
def test_the_bundled_scenarios_are_well_within_the_limits(name: str) -> None:
    scenario = load(find_scenario(Path(name)))
    assert problems(scenario) == []
    work = estimate(scenario)
    assert work.transactions < DEFAULT_LIMITS.transactions / 20
    assert work.events < DEFAULT_LIMITS.events / 20 and work.polls < DEFAULT_LIMITS.polls / 20


def test_the_estimate_is_close_to_what_a_run_does() -> None:
    scenario = load(find_scenario(Path("single-cosigner")))
    work = estimate(scenario)
    result = run_scenario(scenario, keep_events=True)
    events = len(result.events)
    assert work.events / 3 <= events <= work.events * 1.5, (events, work)
    assert work.transactions / 2 <= result.report.transactions_total <= work.transactions * 2


def test_a_large_batch_lets_other_tasks_run() -> None:
    """With --no-limits a batch of any size still yields (so Ctrl-C and SIGTERM are heard)."""
    count = 3 * BATCH_CHECKPOINT
    workload = Workload(
        name="b",
        initiator="ops",
        asset="ETH",
        amount_min=1.0,
        amount_max=1.0,
        source="vault:hot",
        destination="wallet:x",
        at=0.0,
        count=count,
    )
    seen: list[int] = []
    submitted: list[str] = []

    async def main_(env: Environment) -> int:
        async with anyio.create_task_group() as tg:

            async def watcher() -> None:
                while not submitted:  # until the batch has begun
                    await anyio.lowlevel.checkpoint()
                seen.append(len(submitted))

            tg.start_soon(watcher)
            total = await run_workload(env, workload, 0.0, 10.0, lambda s: submitted.append(s.external_id))
        return total

    total = run_simulated(main_, Environment.simulated(1))
    assert total == count and len(submitted) == count
    assert seen and seen[0] < count  # the other task ran during the batch
