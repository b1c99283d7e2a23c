"""Tests marked `slow` (full-length runs of the bundled scenarios, long explorations) run only when asked for: `pytest -m slow`
(or any marker expression naming `slow`), or with COSIGNER_HA_SLOW=1 in the environment. The default
suite runs their shortened versions, so `make test` stays within its time."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.option.markexpr or "") or os.environ.get("COSIGNER_HA_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: run with `pytest -m slow` or COSIGNER_HA_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
