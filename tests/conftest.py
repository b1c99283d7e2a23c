"""Tests marked `slow` (full-length runs of the bundled scenarios, long explorations) run only when asked for: `pytest -m slow`
(or any marker expression naming `slow`), or with COSIGNER_HA_SLOW=1 in the environment. The default
suite runs their shortened versions, so `make test` stays within its time."""

from __future__ import annotations

import os
import signal

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.option.markexpr or "") or os.environ.get("COSIGNER_HA_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: run with `pytest -m slow` or COSIGNER_HA_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    """A shell's background job (`make test &` in a script) starts with SIGINT ignored, and every child
    inherits that: the tests that stop `up`, `run --runtime` or a command with Ctrl-C would see it ignored
    (the launcher ran its drill to the end, `up` never stopped). Ctrl-C is given back here, so the children
    start with the default and Python's KeyboardInterrupt."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
