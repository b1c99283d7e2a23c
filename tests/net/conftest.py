"""Fixtures for the transport tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import trio.testing

from cosigner_ha.net import FramedStream, Listener


@pytest.fixture
def autojump() -> trio.testing.MockClock:
    """Virtual time for simulated-only tests."""
    return trio.testing.MockClock(autojump_threshold=0)


@contextlib.asynccontextmanager
async def closing(*resources: FramedStream | Listener) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for resource in resources:
            await resource.aclose()
