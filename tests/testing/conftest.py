"""Shared helpers of the testing package's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosigner_ha.cluster.bundled import SCENARIOS
from cosigner_ha.cluster.scenario import Scenario, load_scenario

DATA = Path(__file__).parent / "data"
BUNDLED = SCENARIOS


def single_cosigner_path() -> Path:
    """The bundled single co-signer baseline once it is on main, else the local copy."""
    bundled = BUNDLED / "single-cosigner.toml"
    return bundled if bundled.exists() else DATA / "single-cosigner.toml"


@pytest.fixture(scope="session")
def single_cosigner() -> Scenario:
    return load_scenario(single_cosigner_path())
