"""A signing package with a bad cloud commitment point gets no share from the node and spends no nonce:
the hiding point is refused on decoding, the binding point by the multiplication that uses it, each with
the error that names the participant and the commitment."""

from __future__ import annotations

import pytest

from cosigner_ha import mpc
from cosigner_ha.mpc.ed25519 import BASE_POINT, P, add, validate_element
from tests.node.harness import Estate, simulate_estate

MIXED_ORDER = add(BASE_POINT, (P - 1).to_bytes(32, "little"))  # on the curve, with a torsion component


def with_bad_point(package: mpc.SigningPackage, which: str) -> mpc.SigningPackage:
    cloud = package.commitments[2]
    hiding, binding = (MIXED_ORDER, cloud.binding) if which == "hiding" else (cloud.hiding, MIXED_ORDER)
    bad = mpc.SigningCommitments._trusted(2, hiding, binding)  # as a SaaS could put it on the wire
    return mpc.SigningPackage(package.message, {**package.commitments, 2: bad})


@pytest.mark.parametrize("which", ["binding", "hiding"])
def test_a_bad_cloud_point_in_round_two_gets_no_share_and_spends_no_nonce(which: str) -> None:
    with pytest.raises(mpc.InvalidElementError) as raised:
        validate_element(MIXED_ORDER, field=f"{which} commitment", participant=2)
    expected = str(raised.value)  # "participant 2, <which> commitment: ... torsion component"

    async def scenario(e: Estate) -> tuple[object, object, list[bytes]]:
        node = await e.node("n1")
        await node.setup(e.saas.pairing_token("signer-a"))
        persisted: list[bytes] = []
        original = node._persist_nonce

        def spy(nonce_id: bytes) -> None:
            persisted.append(nonce_id)
            original(nonce_id)

        node._persist_nonce = spy  # type: ignore[method-assign]
        e.saas.attempt_timeout = 20
        e.saas.tamper_package = lambda p: with_bad_point(p, which)
        first = await e.saas.sign("n1", "signer-a", b"m", tx="tx-1")
        refused = list(persisted)
        e.saas.tamper_package = None
        second = await e.saas.sign("n1", "signer-a", b"m", tx="tx-2")
        return first, second, refused

    (first, second, refused), env = simulate_estate(scenario)
    assert first.status == "TIMEOUT" and refused == [], "no share, no nonce spent on the bad package"
    (failure,) = env.trace.of_kind("work_failed")
    assert f"the signing package does not decode: {expected}" in failure.get("reason"), failure.get("reason")
    assert second.status == "COMPLETED"
    (released,) = env.trace.of_kind("share_released")
    assert released.get("session") != failure.get("session")
