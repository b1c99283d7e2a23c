"""The pytest plugin (entry point `pytest11`: active wherever cosigner-ha is installed).

Fixtures:

- `cosigner_run(scenario, seed=None) -> RunResult`: run a scenario model, dict or file in simulation.
- `cosigner_seed`: the seed the test is run with (None: each scenario's own).
- `cosigner_local_api(scenario, webhooks=(), timeline=False) -> LocalApi`: the scenario's cluster behind a
  local Fireblocks REST API on 127.0.0.1 (a free port) until the test ends; `local.base_url`,
  `local.users[name]` (api_key, secret_key) and `local.sdk_config(name)` for the official SDK's
  `ClientConfiguration(**...)` (docs/rest-api.md).
- `cosigner_fireblocks_up(scenario, time_scale=None, timeline=False, webhooks=()) -> UpProcess`:
  `cosigner-ha up` as a child process (real SaaS, owner device, proxy and co-signer node processes) on a
  free loopback port, stopped with Ctrl-C when the test ends (its exit status checked); `up.base_url`,
  `up.users`, `up.sdk_config(name)` as above.

Seeds: `@pytest.mark.cosigner_seeds(1, 2, 3)` runs a test once per seed; `--cosigner-seeds 1,2,3` does
so for every test that uses `cosigner_run` or `cosigner_seed` (and overrides the marker).

On failure: the report gets a "cosigner-ha" section naming each scenario run of the failing example
(for a Hypothesis test, the shrunk one) with its seed, and the scenario is written to
`--cosigner-failures` (default `.cosigner-ha/failures/`) as a file that `cosigner-ha run` replays.
Runs made with `cosigner_ha.testing.simulate` count too, inside or outside a fixture.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cluster.runner import RunResult
from cosigner_ha.cluster.scenario import write_scenario
from cosigner_ha.testing.simulation import Run, RunLog, ScenarioSource, recording, simulate

MARKER = "cosigner_seeds"
DEFAULT_FAILURES = Path(".cosigner-ha") / "failures"
_LOG = pytest.StashKey[RunLog]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cosigner-ha", "cosigner-ha simulations")
    group.addoption(
        "--cosigner-seeds",
        metavar="SEEDS",
        default=None,
        help="comma-separated seeds: run every test that uses cosigner_run or cosigner_seed once per seed",
    )
    group.addoption(
        "--cosigner-failures",
        metavar="DIR",
        default=None,
        help=f"where failing tests write the scenarios that reproduce them (default: {DEFAULT_FAILURES})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*seeds): run the test once per seed (its simulations use that seed; "
        "needs the cosigner_run or cosigner_seed fixture)",
    )
    text = config.getoption("--cosigner-seeds")
    if text is not None:
        _parse_seeds(text, "--cosigner-seeds")


def _parse_seeds(value: Any, where: str) -> list[int]:
    items = value.split(",") if isinstance(value, str) else list(value)
    seeds: list[int] = []
    for item in items:
        try:
            seed = int(item.strip()) if isinstance(item, str) else item
        except ValueError:
            raise pytest.UsageError(f"{where}: {item!r} is not an integer seed") from None
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
            raise pytest.UsageError(f"{where}: {item!r} is not a seed (an integer from 0 to 2^63-1)")
        seeds.append(seed)
    if not seeds:
        raise pytest.UsageError(f"{where}: give at least one seed")
    return seeds


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    option = metafunc.config.getoption("--cosigner-seeds")
    marker = metafunc.definition.get_closest_marker(MARKER)
    uses = "cosigner_seed" in metafunc.fixturenames
    if marker is not None and not uses:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: @pytest.mark.{MARKER} needs the test to use the "
            "cosigner_run or cosigner_seed fixture"
        )
    if not uses or (option is None and marker is None):
        return
    if option is not None:
        seeds = _parse_seeds(option, "--cosigner-seeds")
    else:
        assert marker is not None
        seeds = _parse_seeds(marker.args, f"{metafunc.definition.nodeid}: @pytest.mark.{MARKER}")
    metafunc.parametrize("cosigner_seed", seeds, ids=[f"seed={s}" for s in seeds], indirect=True)


@pytest.fixture
def cosigner_seed(request: pytest.FixtureRequest) -> int | None:
    """The seed this test runs with, from the marker or the option; None: each scenario's own."""
    seed: int | None = getattr(request, "param", None)
    log = request.node.stash.get(_LOG, None)
    if log is not None:
        log.seed = seed
    return seed


@pytest.fixture
def cosigner_run(cosigner_seed: int | None) -> Callable[..., RunResult]:
    """`cosigner_run(scenario, seed=None)`: run a scenario model, dict or file; returns the RunResult.

    In a Hypothesis `@given` test, call `cosigner_ha.testing.simulate` instead (same recording; function
    fixtures are not reset between examples).
    """

    def run(scenario: ScenarioSource, seed: int | None = None) -> RunResult:
        return simulate(scenario, seed=seed if seed is not None else cosigner_seed)

    return run


@pytest.fixture
def cosigner_local_api() -> Iterator[Callable[..., Any]]:
    """`cosigner_local_api(scenario, **options) -> LocalApi`: start a local Fireblocks API for a scenario
    file or model; every one started is stopped when the test ends, whatever happened."""
    from cosigner_ha.testing.local_api import local_fireblocks

    with contextlib.ExitStack() as running:

        def start(scenario: Any, **options: Any) -> Any:
            return running.enter_context(local_fireblocks(scenario, **options))

        yield start


@pytest.fixture
def cosigner_fireblocks_up(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`cosigner_fireblocks_up(scenario, **options) -> UpProcess`: run `cosigner-ha up` for a scenario
    file; every one started is stopped (Ctrl-C, then its process group killed if it hangs) when the test
    ends, whatever happened, and its work directory is the test's own."""
    from cosigner_ha.testing.up_process import fireblocks_up

    with contextlib.ExitStack() as running:
        count = 0

        def start(scenario: str | Path, **options: Any) -> Any:
            nonlocal count
            count += 1
            workdir = tmp_path / f"cosigner-ha-up-{count}"
            return running.enter_context(fireblocks_up(scenario, workdir=workdir, **options))

        yield start


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_LOG] = RunLog()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    log = item.stash.get(_LOG, None) or RunLog()
    with recording(log):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    if call.when != "call" or not report.failed:
        return report
    log = item.stash.get(_LOG, None)
    if log is None or not log.runs:
        return report
    folder = Path(item.config.getoption("--cosigner-failures") or item.config.rootpath / DEFAULT_FAILURES)
    lines = list(_describe(item.nodeid, log.to_report(), folder))
    report.sections.append(("cosigner-ha", "\n".join(lines)))
    return report


def _file_name(nodeid: str, index: int, count: int) -> str:
    stem = re.sub(r"[^A-Za-z0-9._=-]+", "_", nodeid).strip("_")[:150]
    return f"{stem}{f'-{index}' if count > 1 else ''}.toml"


def _describe(nodeid: str, runs: list[Run], folder: Path) -> Iterator[str]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        yield f"cannot create {folder} to write the failing scenarios: {exc}"
        folder = Path()
    for i, run in enumerate(runs, 1):
        report = run.result.report
        broken = [
            name for name, check in {**report.invariants, **report.expectations}.items() if not check.ok
        ]
        what = (
            f"broke {', '.join(broken)}" if broken else "passed its own checks; the test's assertion failed"
        )
        scenario = dataclasses.replace(
            run.scenario,
            scenario=dataclasses.replace(
                run.scenario.scenario,
                description=(f"Written by pytest for a failure of {nodeid}: {what}.")[:500],
            ),
        )
        yield f"scenario {report.scenario!r} with seed {run.seed}: {what}"
        for name in broken:
            check = report.invariants.get(name) or report.expectations[name]
            yield f"  {name}: {check.detail}"
        try:
            path = write_scenario(scenario, folder / _file_name(nodeid, i, len(runs)))
        except (OSError, ValueError) as exc:
            yield f"  could not write it: {exc}"
            continue
        yield f"  reproduce: cosigner-ha run {path}"
