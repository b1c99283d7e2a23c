"""`cosigner-ha sweep`: one run per seed on Dask or locally, equal to `cosigner-ha run --seed N`."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from cosigner_ha.cli import main
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import Scenario
from cosigner_ha.testing.engine import EngineError, open_engine
from cosigner_ha.testing.sweep import CHUNKS_PER_WORKER, SeedsError, chunk, parse_seeds, sweep
from tests.testing.conftest import single_cosigner_path


def _children() -> set[int]:
    """Processes whose parent is this test process (a leaked Dask worker would be one), but Python's
    multiprocessing resource tracker, which lives as long as this process and then ends by itself."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"resource_tracker" not in f.read():
                        found.add(int(entry))
    return found


def test_seeds_are_ranges_single_seeds_and_lists_each_once_in_order() -> None:
    assert parse_seeds("1..5") == [1, 2, 3, 4, 5]
    assert parse_seeds("7") == [7]
    assert parse_seeds("3, 1..2, 3") == [3, 1, 2]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("5..1", "the range is empty"),
        ("a..b", "expected a seed"),
        ("", "expected a seed"),
        ("1..99999999", "more than"),
        (f"{2**63}", "above the largest seed"),
    ],
)
def test_bad_seeds_say_what_is_expected(text: str, words: str) -> None:
    with pytest.raises(SeedsError, match=words):
        parse_seeds(text)


@given(n=st.integers(0, 3000), per_seed=st.floats(0.001, 30), workers=st.integers(1, 16))
def test_chunks_cover_every_seed_once_in_order_and_balance_the_workers(
    n: int, per_seed: float, workers: int
) -> None:
    seeds = list(range(n))
    chunks = chunk(seeds, seconds_per_seed=per_seed, workers=workers)
    assert [s for c in chunks for s in c] == seeds
    if n >= workers * CHUNKS_PER_WORKER:
        assert len(chunks) >= workers * CHUNKS_PER_WORKER
    if per_seed >= 2 or n <= workers * CHUNKS_PER_WORKER:  # a long seed goes alone
        assert all(len(c) == 1 for c in chunks)


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_seed_in_a_sweep_is_the_same_run_as_run_with_that_seed(
    engine: str, single_cosigner: Scenario
) -> None:
    before = _children()
    with open_engine(engine, workers=2) as e:
        result = sweep(single_cosigner, [3, 11, 12, 40], e, scenario_path="single-cosigner")
    for r in result.seeds:
        report = run_scenario(single_cosigner, seed=r.seed).report
        assert (r.trace_hash, r.passed, r.failed_checks) == (
            report.trace_hash,
            report.passed,
            tuple(report.failed_checks()),
        )
    assert [r.seed for r in result.seeds] == [3, 11, 12, 40]
    assert result.engine == engine
    assert _children() - before == set()  # the Dask cluster's workers are gone
    assert not multiprocessing.active_children()


def _scenario_with_failures(tmp_path: Path) -> Path:
    """single-cosigner with a 90 s crash of its only node (limit 60 s): seeds with a transaction waiting
    through most of it fail."""
    text = single_cosigner_path().read_text()
    text += '\n[[faults]]\nat = "2m"\naction = "crash"\nnode = "nitro-a"\nfor = "90s"\n'
    path = tmp_path / "flaky.toml"
    path.write_text(text)
    return path


def test_the_json_holds_every_seed_and_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    code = main(
        ["sweep", str(single_cosigner_path()), "--seeds", "1..5", "--engine", "local", "--json", str(out)]
    )
    data = json.loads(out.read_text())
    assert code == (0 if data["summary"]["failed"] == 0 else 1)
    assert list(data) == ["scenario", "engine", "seeds", "summary"]
    assert data["engine"] == "local" and [s["seed"] for s in data["seeds"]] == [1, 2, 3, 4, 5]
    seed = data["seeds"][0]
    assert set(seed) == {
        "seed",
        "passed",
        "trace_hash",
        "failed_checks",
        "transactions",
        "latency_seconds",
        "failovers",
        "wall_seconds",
    }
    assert set(seed["latency_seconds"]) == {"p50", "p99"}
    summary = data["summary"]
    assert summary["runs"] == 5 and summary["passed"] + summary["failed"] == 5
    assert set(summary["distributions"]) == {
        "failover_gap_seconds",
        "latency_p99_seconds",
        "completion_ratio",
    }
    assert set(summary["distributions"]["completion_ratio"]) == {"n", "min", "p50", "p90", "p99", "max"}


def test_failing_seeds_are_listed_with_the_command_that_replays_them(tmp_path: Path) -> None:
    scenario = _scenario_with_failures(tmp_path)
    out, page = tmp_path / "s.json", tmp_path / "s.html"
    console = Console(record=True, width=100)
    from cosigner_ha.testing import sweep_commands

    args = sweep_commands_args(scenario, "1..6", json=out, html=page)
    code = sweep_commands.run(args, console)
    data = json.loads(out.read_text())
    failed = [s for s in data["seeds"] if not s["passed"]]
    assert code == (1 if failed else 0)
    assert failed, "the crash of the only node should fail some seed's expectations"
    text = console.export_text()
    for s in failed[:3]:
        command = f"cosigner-ha run {scenario} --seed {s['seed']}"
        assert command in text.replace("\n", "") or command in page.read_text()
        assert data["summary"]["replay"][str(s["seed"])] == command
    assert "FAILED" in text and "<!DOCTYPE html>" in page.read_text()


def sweep_commands_args(scenario: Path, seeds: str, **extra: object) -> object:
    import argparse

    defaults = {"engine": "local", "workers": None, "scheduler": None, "json": None, "html": None}
    defaults.update(extra)
    return argparse.Namespace(scenario=scenario, seeds=seeds, **defaults)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--seeds", "9..1"], "the range is empty"),
        (["--seeds", "1..3", "--workers", "0"], "--workers must be at least 1"),
        (["--seeds", "1..3", "--engine", "local", "--workers", "2"], "--workers needs --engine dask"),
        (["--seeds", "1..3", "--engine", "local", "--scheduler", "tcp://127.0.0.1:9"], "needs --engine dask"),
        (["--seeds", "1..3", "--json", "/no/such/folder/x.json"], "does not exist"),
        (["--seeds", "1..3", "--json", "same.json", "--html", "same.json"], "the same file as --json"),
    ],
)
def test_bad_options_exit_2_with_the_reason_and_write_nothing(
    argv: list[str],
    words: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(single_cosigner_path()), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_may_not_overwrite_its_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(single_cosigner_path().read_text())
    assert main(["sweep", str(scenario), "--seeds", "1", "--engine", "local", "--json", str(scenario)]) == 2
    assert "would overwrite an input" in capsys.readouterr().err
    assert scenario.read_text() == single_cosigner_path().read_text()


def test_a_scheduler_that_does_not_answer_is_a_clear_error() -> None:
    with (
        pytest.raises(EngineError, match="did not answer"),
        open_engine("dask", scheduler="tcp://127.0.0.1:9"),
    ):
        pass


def test_a_local_cluster_takes_no_fixed_port_and_says_nothing_about_one(
    recwarn: pytest.WarningsRecorder,
) -> None:
    """Another Dask cluster (or anything) on 8787 used to make every sweep warn "Port 8787 is already in
    use"; the scheduler's HTTP routes now take an ephemeral loopback port."""
    with socket.socket() as held:
        with contextlib.suppress(OSError):  # somebody else holds it: the same situation
            held.bind(("127.0.0.1", 8787))
        held.listen()
        with open_engine("dask", workers=1) as engine:
            assert engine.workers == 1
    assert not [w for w in recwarn if "already in use" in str(w.message)]
