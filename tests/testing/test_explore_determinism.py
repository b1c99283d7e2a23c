"""`explore`'s choices are a function of the scenario, budget and search seed: not of the modules the process
happens to have imported (Hypothesis draws constants from those) nor of the machine's speed (Hypothesis stops
shrinking on a clock); cosigner_ha/testing/hypothesis_internals.py."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import Phase, find, settings
from hypothesis.errors import NoSuchExample

from cosigner_ha.cluster.scenario import Scenario
from cosigner_ha.testing import hypothesis_internals
from cosigner_ha.testing.explorer import explore
from cosigner_ha.testing.hypothesis_internals import HypothesisHookMissing
from cosigner_ha.testing.strategies import fault_schedules

ROOT = Path(__file__).resolve().parents[2]
BUDGET, SEED = 10, 2
#: A module of the kind Hypothesis harvests: local (not in site-packages, not a test file), full of integers
#: in the range the single co-signer's fault times are drawn from (20 minutes at one-second grain), strings
#: and floats. Hypothesis skips integers within 100 of zero.
EXTRA = "explore_extra_constants"
EXTRA_SOURCE = "\n".join(
    [
        '"""Constants for Hypothesis to harvest."""',
        *(f"I{v} = {v}" for v in range(100, 1200, 7)),
        *(f'S{i} = "word-{i}"' for i in range(40)),
        "FLOATS = [" + ", ".join(f"{i / 7:.6f}" for i in range(1, 40)) + "]",
        "",
    ]
)


def _tried(scenario: Scenario) -> list[str]:
    """The schedules a small explore simulates, in order."""
    seen: list[str] = []
    explore(
        scenario,
        budget=BUDGET,
        seed=SEED,
        shrink_budget=0,
        check="safety",
        on_progress=lambda p: seen.append(repr(p.candidate)),
    )
    return seen


def _plain(scenario: Scenario) -> list[str]:
    """What Hypothesis's own seeded `find` draws from the same strategy, outside the explorer."""
    drawn: list[str] = []

    def record(extra: object) -> bool:
        drawn.append(repr(extra))
        return False

    plain = settings(max_examples=50, database=None, deadline=None, phases=(Phase.generate,))
    with contextlib.suppress(NoSuchExample):
        find(fault_schedules(scenario), record, settings=plain, random=random.Random(SEED))
    return drawn


def probe() -> None:
    """Run in a fresh interpreter: explore, import more local modules, explore again; print what was tried."""
    from cosigner_ha.cluster.scenario import load_scenario
    from tests.testing.conftest import single_cosigner_path

    scenario = load_scenario(single_cosigner_path())
    before, plain_before = _tried(scenario), _plain(scenario)
    importlib.import_module(EXTRA)
    importlib.import_module("cosigner_ha.cluster.runtime.cluster")
    after, plain_after = _tried(scenario), _plain(scenario)
    print(json.dumps({"explore": [before, after], "plain": [plain_before, plain_after]}))


def test_the_search_tries_the_same_schedules_whatever_modules_are_imported(tmp_path: Path) -> None:
    """In a fresh interpreter (so that what this session imported does not matter) and another working
    directory: the same explore before and after importing a module full of constants and the runtime."""
    (tmp_path / f"{EXTRA}.py").write_text(EXTRA_SOURCE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    done = subprocess.run(
        [sys.executable, "-c", f"from {__name__} import probe; probe()"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    plain_before, plain_after = result["plain"]
    # the test proves something only if Hypothesis itself sees the imported constants
    assert plain_before != plain_after, (
        "importing a module of constants no longer changes Hypothesis's own seeded search: has it stopped "
        "drawing local constants? Then hypothesis_internals need not pin them; this test proves nothing"
    )
    before, after = result["explore"]
    assert len(before) == BUDGET
    assert before == after


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("hypothesis.internal.conjecture.providers", "_get_local_constants"),
        ("hypothesis.internal.conjecture.providers", "CONSTANTS_CACHE"),
        ("hypothesis.internal.conjecture.engine", "MAX_SHRINKING_SECONDS"),
    ],
)
def test_a_hypothesis_without_a_hook_is_refused_loudly(
    module: str, name: str, single_cosigner: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hypothesis release that renamed what the explorer pins: explore refuses to search, saying what is
    missing, rather than searching in a way the modules imported or the machine's speed decide."""
    monkeypatch.delattr(importlib.import_module(module), name)
    with pytest.raises(HypothesisHookMissing, match=rf"Hypothesis [0-9.]+ has no {module}\.{name}"):
        explore(single_cosigner, budget=3, seed=SEED, shrink_budget=0)


def test_after_a_search_hypothesis_is_as_it_was(single_cosigner: Scenario) -> None:
    """The empty pool and the lifted clock are the search's only: both are back afterwards, for the process's
    other Hypothesis tests, also after nested searches."""
    from hypothesis.internal.conjecture import engine, providers

    original = providers._get_local_constants, engine.MAX_SHRINKING_SECONDS

    def now() -> tuple[object, float]:
        return providers._get_local_constants, engine.MAX_SHRINKING_SECONDS

    with hypothesis_internals.isolated_search():
        assert now()[0] is not original[0] and now()[1] == float("inf")
        with hypothesis_internals.isolated_search():
            pass
        assert now()[0] is not original[0] and now()[1] == float("inf")
        assert not providers._get_local_constants().integers
    assert now() == original
    explore(single_cosigner, budget=4, seed=3, shrink_budget=2)
    assert now() == original


class _SlowClock:
    """The engine's `time` on a machine where every reading is 400 s after the last (ten minutes a run)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 400.0
        return self.now

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


def test_the_same_seed_finds_the_same_counterexample_however_slow_the_machine(
    single_cosigner: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hypothesis stops shrinking after five minutes; the explorer's shrink budget bounds shrinking instead,
    so a slow machine shrinks to the same counterexample as a fast one. (Two searches with one seed: this
    is also the test that a seed replays its search.)"""
    from hypothesis.internal.conjecture import engine

    fast = explore(single_cosigner, budget=4, seed=3, shrink_budget=10)
    monkeypatch.setattr(engine, "time", _SlowClock())
    slow = explore(single_cosigner, budget=4, seed=3, shrink_budget=10)
    assert fast.found and fast.shrink_runs > 1
    assert (slow.added, slow.examples, slow.shrink_runs) == (fast.added, fast.examples, fast.shrink_runs)
