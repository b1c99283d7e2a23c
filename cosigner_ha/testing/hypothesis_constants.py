"""Keep Hypothesis's "local constants" out of the explorer's search: the one place that touches its internals.

Why: since 6.131.1 Hypothesis's default provider (`HypothesisProvider._maybe_draw_constant`) now and then
(about one integer, string or bytes draw in twenty, one float in seven) returns a constant harvested from
the source of every *local* module then in `sys.modules` (this package's modules count). So which modules
happen to be imported (a test that loaded the runtime, the order tests ran in, the code of the working
directory) changes the fault schedules a seeded search tries, and whether it finds a counterexample:
`explore` would break its promise that the scenario, budget and seed decide the result. Hypothesis has no
setting for this. For the duration of a search, `without_local_constants` swaps the one function the
provider asks for that pool (`providers._get_local_constants`) for one returning an empty pool, and clears
the provider's cache of permitted constants (`providers.CONSTANTS_CACHE`, built from the pool) on entry and
again on exit, so neither pool leaks into the other's draws. Hypothesis's own global constants stay: they
depend on its version only.

Not a registered backend: Hypothesis's engine treats every backend but "hypothesis" differently (no
tree of tried choices, so no novel-prefix generation or exhaustion; a failure replayed on the default
provider), which would change the search itself.

Checked against Hypothesis 6.131.17, 6.135.4 and 6.170.27 (the first releases with this shape of the
hook, and the one installed). If a release renames or reshapes it, entering raises `HypothesisHookMissing`
saying what is missing; tests/testing/test_explore_determinism.py fails if the hook stops deciding the draws.
While a search runs, Hypothesis tests in other threads of the process draw no local constants either.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import hypothesis

#: The first Hypothesis release that draws local constants: before it there is nothing to keep out.
FIRST_WITH_LOCAL_CONSTANTS = (6, 131, 1)
_PROVIDERS = "hypothesis.internal.conjecture.providers"
_HOOK = "_get_local_constants"  # () -> Constants, asked by each new HypothesisProvider
_CACHE = "CONSTANTS_CACHE"  # LRUCache of the constants each draw's constraints permit, built from the pool


class HypothesisHookMissing(RuntimeError):
    """The installed Hypothesis does not have the internals this module replaces: without them a search
    would depend on the modules imported, so the explorer refuses to search."""


_lock = threading.Lock()
_depth = 0  # searches running now (nested or in other threads): the first in patches, the last out restores
_original: Callable[[], Any] | None = None


def _hook() -> tuple[ModuleType, Callable[[], Any]] | None:
    """The providers module and an empty-pool factory; None when this Hypothesis draws no local constants."""
    if hypothesis.__version_info__ < FIRST_WITH_LOCAL_CONSTANTS:
        return None
    where = f"Hypothesis {hypothesis.__version__}"
    try:
        providers = importlib.import_module(_PROVIDERS)
        from hypothesis.internal.constants_ast import Constants
    except ImportError as exc:
        raise HypothesisHookMissing(
            f"{where} has no {exc.name}: {__name__} cannot keep its local constants out of the search"
        ) from exc
    cache = getattr(providers, _CACHE, None)
    missing = [
        name
        for name, ok in (
            (f"{_PROVIDERS}.{_HOOK}()", callable(getattr(providers, _HOOK, None))),
            (
                f"{_PROVIDERS}.{_CACHE}.cache.clear()",
                callable(getattr(getattr(cache, "cache", None), "clear", None)),
            ),
            ("Constants.set_for_type()", callable(getattr(Constants, "set_for_type", None))),
        )
        if not ok
    ]
    if missing:
        raise HypothesisHookMissing(
            f"{where} has no {', '.join(missing)}: {__name__} cannot keep its local constants out of the "
            "search, which would then depend on the modules imported; update that module for this release "
            "or install a release it was checked against (its docstring lists them)"
        )
    return providers, Constants


@contextlib.contextmanager
def without_local_constants() -> Iterator[None]:
    """While inside, Hypothesis draws no constant harvested from the modules imported (see the module)."""
    global _depth, _original
    found = _hook()
    if found is None:
        yield
        return
    providers, empty = found
    with _lock:
        if _depth == 0:
            _original = getattr(providers, _HOOK)
            setattr(providers, _HOOK, empty)
            getattr(providers, _CACHE).cache.clear()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                setattr(providers, _HOOK, _original)
                _original = None
                getattr(providers, _CACHE).cache.clear()
