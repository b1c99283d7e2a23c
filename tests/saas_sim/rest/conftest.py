"""A local Fireblocks API per test module (or per test, for tests that change the workspace), driven by the
official SDK; every server is stopped when its fixture ends."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import jwt
import pytest
from fireblocks.client import Fireblocks
from fireblocks.client_configuration import ClientConfiguration

from cosigner_ha.testing.local_api import LocalApi, local_fireblocks

SCENARIO = Path(__file__).with_name("local.toml")
TERMINAL = ("COMPLETED", "FAILED", "BLOCKED", "REJECTED", "CANCELLED")
T = TypeVar("T")


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalApi]:
    with local_fireblocks(SCENARIO) as local:
        yield local


@pytest.fixture
def fresh() -> Iterator[LocalApi]:
    with local_fireblocks(SCENARIO) as local:
        yield local


_CLIENTS: list[Fireblocks] = []


def sdk(local: LocalApi, user: str) -> Fireblocks:
    """The official SDK as `user`; closed (its thread pool and connections) when the test ends."""
    client = Fireblocks(ClientConfiguration(**local.sdk_config(user)))
    _CLIENTS.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def result(future: Any, model: type[T]) -> T:
    """The SDK's answer, which must have deserialised into `model` (the SDK falls back to a loose model
    with only a warning when a response does not fit)."""
    data = future.result().data
    assert isinstance(data, model), f"expected {model.__name__}, the SDK made {type(data).__name__}: {data!r}"
    return data


def wait_for(check: Callable[[], T | None], timeout: float = 60.0, step: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(step)


def signed_headers(
    local: LocalApi,
    user: str,
    uri: str,
    body: bytes = b"",
    *,
    claims: dict[str, Any] | None = None,
    key: str | None = None,
    api_key: str | None = None,
) -> dict[str, str]:
    """Headers as the SDK builds them, with any claim overridden (for the authentication faults)."""
    keys = local.users[user]
    now = int(time.time())
    payload: dict[str, Any] = {
        "uri": uri,
        "nonce": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 55,
        "sub": keys.api_key,
        "bodyHash": hashlib.sha256(body).hexdigest(),
    }
    payload.update(claims or {})
    payload = {k: v for k, v in payload.items() if v is not None}
    token = jwt.encode(payload, key or keys.secret_key, algorithm="RS256")
    return {
        "X-API-Key": api_key or keys.api_key,
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }


def body_of(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()
