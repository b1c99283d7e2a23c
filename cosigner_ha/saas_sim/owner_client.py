"""The owner's device as a party of its own, reached over HTTP (`cosigner-ha owner serve`).

With `Saas(owner=RemoteOwner(url))` the SaaS never holds the owner's share of a workspace key: the device
takes part in the workspace key's DKG, answers the owner's approvals (pairings, callback updates,
configuration changes, 2-TIER approvals where the owner is named) after its own latency, and deals its
resharing contribution for a pairing with the node's piece already sealed to the node. Bodies are msgpack
(the wire codec's encoding; keys and shares are bytes). A network error is retried until the caller's
timeout (the request's own approval timeout) gives up; a refusal from the device is an `OwnerRefused`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import httpx
import msgpack

from cosigner_ha import mpc
from cosigner_ha.saas_sim.approvers import Decision, Verdict
from cosigner_ha.saas_sim.errors import SaasError
from cosigner_ha.saas_sim.keyholders import OwnerContribution

CONTENT_TYPE = "application/msgpack"
#: Seconds between attempts to reach the device.
RETRY = 0.5


class OwnerRefused(SaasError):
    code = "OWNER_DEVICE_REFUSED"


def pack(value: Any) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class RemoteOwner:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        timeout = httpx.Timeout(5.0, read=None)  # an approval takes the owner's latency: the caller bounds it
        while True:
            try:
                async with httpx.AsyncClient(timeout=timeout) as client:
                    response = await client.post(
                        f"{self.url}{path}", content=pack(dict(body)), headers={"content-type": CONTENT_TYPE}
                    )
            except httpx.TransportError:
                await anyio.sleep(RETRY)
                continue
            if response.status_code >= 500:
                await anyio.sleep(RETRY)
                continue
            if response.status_code != 200:
                raise OwnerRefused(f"the owner device at {self.url} refused {path}: {response.text}")
            return unpack(response.content)

    async def check(self) -> None:
        """One look at the device (at start-up): an `OwnerRefused` naming the URL if it does not answer."""
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(f"{self.url}/health")
        except httpx.HTTPError as exc:
            raise OwnerRefused(f"the owner device at {self.url} does not answer ({exc!r})") from None
        if response.status_code != 200:
            raise OwnerRefused(f"{self.url} is not an owner device (GET /health: {response.status_code})")

    # --- the workspace key ---------------------------------------------------------------------------------

    async def dkg_part1(self, workspace_id: str) -> mpc.DkgRound1Package:
        answer = await self._post("/dkg/1", {"workspace_id": workspace_id})
        return mpc.DkgRound1Package.from_dict(answer)

    async def dkg_part2(
        self, workspace_id: str, round1: Mapping[int, mpc.DkgRound1Package]
    ) -> dict[int, mpc.DkgRound2Package]:
        body = {"workspace_id": workspace_id, "round1": [p.to_dict() for p in round1.values()]}
        answer = await self._post("/dkg/2", body)
        return {int(i): mpc.DkgRound2Package.from_dict(p) for i, p in answer.items()}

    async def dkg_part3(
        self,
        workspace_id: str,
        round1: Mapping[int, mpc.DkgRound1Package],
        round2: Mapping[int, mpc.DkgRound2Package],
    ) -> mpc.PublicKeyPackage:
        body = {
            "workspace_id": workspace_id,
            "round1": [p.to_dict() for p in round1.values()],
            "round2": [p.to_dict() for p in round2.values()],
        }
        answer = await self._post("/dkg/3", body)
        return mpc.PublicKeyPackage.from_bytes(answer["public_package"])

    # --- approvals -----------------------------------------------------------------------------------------

    async def decide(self, approver: str, details: Mapping[str, Any]) -> Decision:
        answer = await self._post("/approvals", {"approver": approver, "details": dict(details)})
        return Decision(approver, Verdict(answer["verdict"]), str(answer["reason"]), float(answer["latency"]))

    async def contribute(self, request_id: str, workspace_id: str, transport_key: bytes) -> OwnerContribution:
        """The device's resharing contribution to an approved pairing (the same one if asked again)."""
        body = {"request_id": request_id, "workspace_id": workspace_id, "transport_key": transport_key}
        return OwnerContribution.from_plain(await self._post("/contributions", body))


class RemoteApprover:
    """The owner, as `SaasContext.approver` hands out approvers: answered by the device."""

    def __init__(self, name: str, owner: RemoteOwner) -> None:
        self.name = name
        self._owner = owner

    async def decide(self, details: Mapping[str, Any]) -> Decision:
        """A refusal by the device (a bad request, a device that lost its state) is no approval."""
        try:
            return await self._owner.decide(self.name, details)
        except OwnerRefused as exc:
            return Decision(self.name, Verdict.REJECT, exc.message, 0.0)
