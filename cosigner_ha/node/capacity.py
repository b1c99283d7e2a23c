"""A co-signer's signing capacity: how many MPC rounds its enclave computes at once, and what a round costs.

Signing is not free: each FROST round (commitments, then the signature share) costs enclave compute, and
an enclave computes a bounded number of rounds at once. Rounds beyond that wait in FIFO order for a slot,
so latency grows with load and a co-signer saturates at about `sessions / (2 * round_time)` transactions a
second. The network part of a round is the simulated link's latency (`net`), not counted here.

Fireblocks publishes no throughput or per-round figures for the API co-signer (only that several
co-signers "significantly improve your signing throughput"); the per-enclave defaults below are this
project's assumptions, documented in `docs/performance.md`.
"""

from __future__ import annotations

from cosigner_ha.env.compute import PROBE_DELAY_CAP as PROBE_DELAY_CAP
from cosigner_ha.env.compute import SigningCapacity as SigningCapacity
from cosigner_ha.env.compute import SigningSlots as SigningSlots

#: No cost at all: what a node built without a capacity gets (unit tests of the node's protocol logic).
INSTANT = SigningCapacity(sessions=1, round_time=0.0)

#: Assumed defaults per co-signer type (the SaaS registry's names). Assumptions, not vendor figures:
#: SGX pays enclave transitions (ECALL/OCALL) per round; a Nitro enclave talks over vsock; GCP
#: Confidential Space runs a full confidential VM; the communal co-signer is shared by every sandbox
#: workspace, so a workspace sees a small share of it.
DEFAULTS: dict[str, SigningCapacity] = {
    "SGX": SigningCapacity(sessions=8, round_time=0.040),
    "AWS-NITRO": SigningCapacity(sessions=8, round_time=0.030),
    "GCP-CONFSPACE": SigningCapacity(sessions=8, round_time=0.030),
    "SANDBOX": SigningCapacity(sessions=2, round_time=0.050),
}


def default_for(cosigner_type: str) -> SigningCapacity:
    """The assumed capacity of a co-signer of this registry type."""
    try:
        return DEFAULTS[cosigner_type]
    except KeyError:
        raise ValueError(
            f"no signing-capacity default for co-signer type {cosigner_type!r}; expected one of "
            f"{', '.join(DEFAULTS)}"
        ) from None
