"""Co-signer registry rules (GCP single workspace, communal testnet only, offline after 15 minutes) and the
management requests' status machine."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing

from cosigner_ha.saas_sim.errors import (
    CommunalOnTestnetOnly,
    Conflict,
    IllegalTransition,
    NotFound,
    SingleWorkspaceOnly,
    ValidationError,
)
from cosigner_ha.saas_sim.management import ManagementRequests, RequestKind, RequestState
from cosigner_ha.saas_sim.registry import CosignerRegistry, CosignerType, Pairing
from cosigner_ha.saas_sim.workspace import Workspace


class Now:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"id-{next(counter)}"


def workspace(name: str, env: str) -> Workspace:
    return Workspace.from_spec(
        {"name": name, "env": env, "api_users": [{"name": f"{name}-signer", "role": "SIGNER"}]},
        new_id=lambda: f"ws-{name}",
    )


def pair(registry: CosignerRegistry, cosigner_id: str, ws: Workspace) -> None:
    cosigner = registry.get(cosigner_id)
    registry.check_can_pair(cosigner, ws)
    user = next(ws.iter_api_users())
    registry.add_pairing(cosigner, Pairing(ws.id, user.name, user.id, 0.0, "jti", b"k" * 32))


def test_a_gcp_cosigner_serves_one_workspace_only() -> None:
    registry = CosignerRegistry(offline_after=900, now=Now())
    registry.register("gcp-1", "GCP-CONFSPACE", "0.9.4")
    a, b = workspace("a", "mainnet"), workspace("b", "mainnet")
    pair(registry, "gcp-1", a)
    with pytest.raises(SingleWorkspaceOnly) as err:
        pair(registry, "gcp-1", b)
    assert err.value.code == "GCP_SINGLE_WORKSPACE"
    assert "serves one workspace only" in str(err.value) and "'b'" in str(err.value)
    assert registry.get("gcp-1").workspaces() == ["ws-a"]  # nothing half-written
    # An SGX co-signer may serve several workspaces.
    registry.register("sgx-1", "SGX", "3.7.1")
    pair(registry, "sgx-1", a)
    pair(registry, "sgx-1", b)
    assert registry.get("sgx-1").workspaces() == ["ws-a", "ws-b"]


@pytest.mark.parametrize("env", ["testnet", "sandbox"])
def test_the_communal_cosigner_pairs_with_testnet_and_sandbox(env: str) -> None:
    registry = CosignerRegistry(offline_after=900, now=Now())
    registry.register("communal", "SANDBOX", "1")
    pair(registry, "communal", workspace("t", env))
    assert registry.paired_with("ws-t", "t-signer")[0].id == "communal"


def test_the_communal_cosigner_refuses_mainnet() -> None:
    registry = CosignerRegistry(offline_after=900, now=Now())
    registry.register("communal", "SANDBOX", "1")
    with pytest.raises(CommunalOnTestnetOnly) as err:
        pair(registry, "communal", workspace("m", "mainnet"))
    assert err.value.code == "COMMUNAL_NOT_ALLOWED"
    assert "testnet and sandbox workspaces" in str(err.value)
    assert registry.get("communal").pairings == []


def test_registration_checks_type_and_keeps_order() -> None:
    registry = CosignerRegistry(offline_after=900, now=Now())
    registry.register("b", "AWS-NITRO", "2.0.5")
    registry.register("a", "SGX", "3.7.1")
    assert [c.id for c in registry.all()] == ["b", "a"]
    assert registry.register("b", "AWS-NITRO", "2.1").version == "2.1"
    with pytest.raises(Conflict, match="registered as AWS-NITRO, not SGX"):
        registry.register("b", "SGX", "1")
    with pytest.raises(ValidationError, match="cosigner_type: expected one of SGX, AWS-NITRO"):
        registry.register("c", "PLAIN", "1")
    with pytest.raises(NotFound):
        registry.get("zzz")
    assert registry.get("a").type is CosignerType.SGX


def test_offline_after_fifteen_minutes_without_a_poll() -> None:
    now = Now()
    registry = CosignerRegistry(offline_after=900, now=now)
    cosigner = registry.register("n", "SGX", "1")
    assert not registry.is_online(cosigner)  # never polled
    registry.seen(cosigner)
    now.t = 899.0
    assert registry.is_online(cosigner)
    now.t = 900.0
    assert not registry.is_online(cosigner)
    registry.seen(cosigner)
    assert registry.is_online(cosigner)


def test_management_request_statuses_move_only_forward() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    requests = ManagementRequests(now=Now(), new_id=ids(), record=lambda kind, **f: events.append((kind, f)))
    req = requests.create(RequestKind.UNPAIR_API_KEY, workspace_id="ws", requested_by="tywin", api_user="a")
    assert req.status is RequestState.WAITING_FOR_APPROVAL
    requests.move(req, RequestState.APPROVED, "approved by tywin")
    requests.move(req, RequestState.COMPLETED)
    with pytest.raises(IllegalTransition, match="COMPLETED; it can move to nothing"):
        requests.move(req, RequestState.CANCELLED)
    assert [s for _, s, _ in req.history] == [
        RequestState.WAITING_FOR_APPROVAL,
        RequestState.APPROVED,
        RequestState.COMPLETED,
    ]
    assert [k for k, _ in events] == ["management_request", "request_status", "request_status"]
    assert req.as_status() == {"id": "id-1", "type": "UNPAIR_API_KEY", "status": "COMPLETED", "detail": ""}
    other = requests.create(RequestKind.RENAME_COSIGNER, workspace_id="ws", requested_by="x")
    with pytest.raises(IllegalTransition, match="WAITING_FOR_APPROVAL; it can move to APPROVED"):
        requests.move(other, RequestState.COMPLETED)
    assert requests.get("id-2") is other
    with pytest.raises(NotFound):
        requests.get("id-9")


async def test_waiters_wake_on_change_or_time_out(autojump_clock: trio.testing.MockClock) -> None:
    requests = ManagementRequests(now=trio.current_time, new_id=ids(), record=lambda kind, **f: None)
    req = requests.create(RequestKind.PAIR_API_KEY, workspace_id="ws", requested_by="node")
    assert await requests.wait_change(req, 1.0) is False
    woke: list[bool] = []
    async with trio.open_nursery() as nursery:

        async def wait() -> None:
            woke.append(await requests.wait_change(req, 100.0))

        nursery.start_soon(wait)
        await trio.sleep(1)
        requests.move(req, RequestState.REJECTED, "owner refused")
    assert woke == [True]
    assert await requests.wait_change(req, 100.0) is False  # final: returns at once
