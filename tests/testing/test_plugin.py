"""The pytest plugin, exercised in a separate in-process pytest run (pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.scenario import load_scenario
from tests.testing.conftest import single_cosigner_path

pytest_plugins = ["pytester"]

HEADER = f"""
import dataclasses
import pytest
from hypothesis import given, settings, HealthCheck
from cosigner_ha.cluster.scenario import Fault, FaultAction, load_scenario
from cosigner_ha.testing import simulate, assert_passed
PATH = {str(single_cosigner_path())!r}
"""


def test_the_plugin_is_registered_through_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HEADER + "\ndef test_x(cosigner_run, cosigner_seed):\n    assert cosigner_seed is None\n"
    )
    result = pytester.runpytest("--trace-config")
    result.stdout.fnmatch_lines(["*cosigner_ha.testing.plugin*"])
    result.assert_outcomes(passed=1)


def test_cosigner_run_runs_a_file_or_a_dict_and_the_seed_marker_reruns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HEADER
        + """
def test_file(cosigner_run):
    result = cosigner_run(PATH)
    assert result.report.passed and result.report.seed == 7

@pytest.mark.cosigner_seeds(11, 12)
def test_seeds(cosigner_run, cosigner_seed):
    result = cosigner_run(PATH)
    assert result.report.seed == cosigner_seed
    assert simulate(PATH).report.seed == cosigner_seed  # direct calls use the test's seed too
"""
    )
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["*test_seeds?seed=11? PASSED*", "*test_seeds?seed=12? PASSED*"])
    result.assert_outcomes(passed=3)


def test_the_seeds_option_overrides_for_every_test_that_takes_a_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.cosigner_seeds(1)
def test_a(cosigner_run):
    assert cosigner_run(PATH).report.seed in (5, 6)

def test_b(cosigner_seed):
    assert cosigner_seed in (5, 6)

def test_untouched():
    pass
"""
    )
    result = pytester.runpytest("--cosigner-seeds", "5,6")
    result.assert_outcomes(passed=5)


@pytest.mark.parametrize(
    ("args", "source", "message"),
    [
        (["--cosigner-seeds", "5,x"], "def test_a(cosigner_seed): pass", "'x' is not an integer seed"),
        ([], "@pytest.mark.cosigner_seeds(1)\ndef test_a(): pass", "needs the test to use the cosigner_run"),
        ([], "@pytest.mark.cosigner_seeds(-1)\ndef test_a(cosigner_seed): pass", "-1 is not a seed"),
    ],
)
def test_bad_seeds_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], source: str, message: str
) -> None:
    pytester.makepyfile("import pytest\n" + source + "\n")
    result = pytester.runpytest(*args)
    assert result.ret != 0
    assert message in result.stderr.str() + result.stdout.str()


def test_a_failing_test_prints_the_seed_and_writes_a_scenario_that_replays(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(
        HEADER
        + """
def test_crash_breaks_failover(cosigner_run):
    scenario = load_scenario(PATH)
    crashed = dataclasses.replace(scenario, faults=(Fault(600.0, FaultAction.CRASH, node="nitro-a"),))
    assert_passed(cosigner_run(crashed, seed=99))
"""
    )
    out = tmp_path / "failures"
    result = pytester.runpytest("--cosigner-failures", str(out))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*cosigner-ha*",
            "scenario 'single-cosigner' with seed 99: broke max_failover",
            "  max_failover: 1 loss(es) delayed transactions*",
            f"  reproduce: cosigner-ha run {out}*.toml",
        ]
    )
    (written,) = out.glob("*.toml")
    scenario = load_scenario(written)
    assert scenario.scenario.seed == 99 and len(scenario.faults) == 1
    assert "test_crash_breaks_failover" in scenario.scenario.description
    assert main(["run", str(written)]) == 1


@pytest.mark.slow  # Hypothesis shrinks two faults to one: about fifty simulations, 45 s or more
def test_a_failing_hypothesis_test_writes_the_shrunk_example(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(
        HEADER
        + """
from cosigner_ha.testing import strategies as cst

BASE = load_scenario(PATH)

@settings(max_examples=10, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(cst.with_faults(BASE, max_faults=2, actions=[FaultAction.CRASH, FaultAction.PARTITION]))
def test_baseline_survives_faults(scenario):
    assert_passed(simulate(scenario))
"""
    )
    out = tmp_path / "failures"
    result = pytester.runpytest("--cosigner-failures", str(out))
    result.assert_outcomes(failed=1)
    (written,) = out.glob("*.toml")
    scenario = load_scenario(written)
    assert len(scenario.faults) == 1 and scenario.faults[0].node == "nitro-a"
    result.stdout.fnmatch_lines(["*broke max_failover*", f"*reproduce: cosigner-ha run {written}"])


def test_a_passing_test_writes_nothing(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(HEADER + "\ndef test_ok(cosigner_run):\n    cosigner_run(PATH)\n")
    out = tmp_path / "failures"
    result = pytester.runpytest("--cosigner-failures", str(out))
    result.assert_outcomes(passed=1)
    assert not out.exists()
