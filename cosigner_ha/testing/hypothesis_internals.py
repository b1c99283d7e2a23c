"""What the explorer changes inside Hypothesis while it searches, so that the scenario, budget and search seed
alone decide the search: the one place in the package that touches Hypothesis internals.

Local constants. Since 6.131.1 Hypothesis's default provider (`HypothesisProvider._maybe_draw_constant`)
now and then (about one integer, string or bytes draw in twenty, one float in seven) returns a constant
harvested from the source of every *local* module then in `sys.modules` (this package's modules count). So
which modules happen to be imported (a test that loaded the runtime, the order tests ran in, the code of the
working directory) would change the fault schedules a seeded search tries, and whether it finds a
counterexample. Hypothesis has no setting for this. While a search runs, the one function the provider asks
for that pool (`providers._get_local_constants`) returns an empty pool, and the provider's cache of permitted
constants built from the pool (`providers.CONSTANTS_CACHE`) is cleared on entry and again on exit, so
neither pool leaks into the other's draws. Hypothesis's own global constants stay: they depend on its
release only. Not a registered backend instead: the engine treats every backend but "hypothesis"
differently (no tree of tried choices, so no novel-prefix generation or exhaustion; a failure replayed on
the default provider), which would change the search itself.

Shrinking's clock. Hypothesis stops shrinking after five minutes of wall-clock time
(`engine.MAX_SHRINKING_SECONDS`), so on a slow scenario (13 s a run) or a loaded machine the counterexample
would depend on the machine's speed. The explorer's shrink budget bounds shrinking in simulations; while
a search runs the clock limit is lifted.

Checked against Hypothesis 6.131.17, 6.135.4 and 6.170.27 (the first releases with this shape of both
hooks, and the one installed). If a release renames or reshapes them, entering raises `HypothesisHookMissing`
saying what is missing, and tests/testing/test_explore_determinism.py fails if they stop deciding. While
a search runs, Hypothesis tests in other threads of the process see the same changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import hypothesis

#: The first Hypothesis release that draws local constants: before it there is nothing to keep out.
FIRST_WITH_LOCAL_CONSTANTS = (6, 131, 1)
_PROVIDERS = "hypothesis.internal.conjecture.providers"
_ENGINE = "hypothesis.internal.conjecture.engine"
_CONSTANTS = "hypothesis.internal.constants_ast"
_HOOK = "_get_local_constants"  # () -> Constants, asked by each new HypothesisProvider
_CACHE = "CONSTANTS_CACHE"  # LRUCache of the constants each draw's constraints permit, built from the pool
_SHRINK_CLOCK = "MAX_SHRINKING_SECONDS"  # read by the engine when shrinking starts


class HypothesisHookMissing(RuntimeError):
    """The installed Hypothesis lacks the internals this module replaces: without them a search would
    depend on the modules imported or the machine's speed, so the explorer refuses to search."""


@dataclasses.dataclass
class _Saved:
    depth: int = 0  # searches running now (nested or in threads): the first in patches, the last out restores
    values: dict[tuple[ModuleType, str], Any] = dataclasses.field(default_factory=dict)


_lock = threading.Lock()
_saved = _Saved()


def _replacements() -> dict[tuple[ModuleType, str], Any]:
    """What to set where while a search runs; raises `HypothesisHookMissing` naming what is not there."""
    where = f"Hypothesis {hypothesis.__version__}"
    try:
        engine = importlib.import_module(_ENGINE)
        providers = importlib.import_module(_PROVIDERS)
        local_constants = hypothesis.__version_info__ >= FIRST_WITH_LOCAL_CONSTANTS
        constants = importlib.import_module(_CONSTANTS) if local_constants else None
    except ImportError as exc:
        raise HypothesisHookMissing(
            f"{where} has no module {exc.name}: {__name__} cannot pin its search"
        ) from exc
    wanted: dict[tuple[ModuleType, str], Any] = {(engine, _SHRINK_CLOCK): math.inf}
    checks = [(f"{_ENGINE}.{_SHRINK_CLOCK}", isinstance(getattr(engine, _SHRINK_CLOCK, None), int | float))]
    if constants is not None:
        empty_pool = getattr(constants, "Constants", None)  # its constructor, called with no argument
        checks += [
            (f"{_PROVIDERS}.{_HOOK}()", callable(getattr(providers, _HOOK, None))),
            (
                f"{_PROVIDERS}.{_CACHE}.cache.clear()",
                callable(getattr(_constants_cache(providers), "clear", None)),
            ),
            (f"{_CONSTANTS}.Constants().set_for_type()", hasattr(empty_pool, "set_for_type")),
        ]
        wanted[providers, _HOOK] = empty_pool
    missing = [name for name, ok in checks if not ok]
    if missing:
        raise HypothesisHookMissing(
            f"{where} has no {', '.join(missing)}: {__name__} cannot keep the explorer's search independent "
            "of the modules imported and of the machine's speed; update that module for this release or "
            "install one it was checked against (its docstring lists them)"
        )
    return wanted


def _constants_cache(providers: ModuleType) -> Any:
    """The dict inside the provider's LRU cache of permitted constants (None before 6.131.1)."""
    return getattr(getattr(providers, _CACHE, None), "cache", None)


def _clear_constants_cache() -> None:
    cache = _constants_cache(importlib.import_module(_PROVIDERS))
    if cache is not None:
        cache.clear()


@contextlib.contextmanager
def isolated_search() -> Iterator[None]:
    """While inside, Hypothesis draws no constant harvested from the modules imported and does not stop
    shrinking on a clock (see the module)."""
    wanted = _replacements()
    with _lock:
        if _saved.depth == 0:
            for (module, name), value in wanted.items():
                _saved.values[module, name] = getattr(module, name)
                setattr(module, name, value)
            _clear_constants_cache()
        _saved.depth += 1
    try:
        yield
    finally:
        with _lock:
            _saved.depth -= 1
            if _saved.depth == 0:
                for (module, name), value in _saved.values.items():
                    setattr(module, name, value)
                _saved.values.clear()
                _clear_constants_cache()
