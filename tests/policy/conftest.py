"""Fixtures: the seed workspace as a parsed scenario and as a Directory."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from cosigner_ha.policy import Directory

from .support import WORKSPACE_TOML


@pytest.fixture
def scenario() -> dict[str, Any]:
    return tomllib.loads(WORKSPACE_TOML)


@pytest.fixture
def directory(scenario: dict[str, Any]) -> Directory:
    return Directory.from_scenario(scenario, origin="seed.toml")
