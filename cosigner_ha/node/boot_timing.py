"""How long a co-signer takes to come up: enclave or workload start, attestation, restore from backup.

A node that starts, restarts or is brought back after a fault is not serving at the instant it begins:
its enclave (SGX), enclave image (Nitro) or Confidential Space workload (GCP) has to start, then it
attests and unlocks its database key (SGX: the remote-attestation round trip to the SaaS; Nitro and GCP:
the KMS decrypt whose policy checks the attestation), and a restore from backup rewrites the database.
The network part of the attestation round trip is the simulated link's latency, not counted here.

Fireblocks publishes no boot or attestation durations; the figures below are this project's assumptions,
with the basis of each in docs/node.md ("Boot timing"). A scenario node gets its enclave kind's figures
unless it sets `boot_time`, `attest_time` or `restore_time`; a node built directly (unit tests of the
node's logic) boots at no cost (`INSTANT_BOOT`).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class BootTiming:
    """Seconds for: enclave/workload `start`; `attest` (quote and key unlock); `restore` from a backup."""

    start: float = 0.0
    attest: float = 0.0
    restore: float = 0.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value < 0:
                raise ValueError(f"boot timing {field.name} cannot be negative, got {value}")

    @property
    def boot(self) -> float:
        """A start or restart, from launch to serving: start, then attestation."""
        return self.start + self.attest


#: No boot cost: what a node built without a timing gets (unit tests of the node's logic).
INSTANT_BOOT = BootTiming()

#: Typical figures per co-signer type (the SaaS registry's names); assumptions, not vendor figures.
DEFAULTS: dict[str, BootTiming] = {
    "SGX": BootTiming(start=15.0, attest=2.0, restore=30.0),  # enclave load; IAS/DCAP round trip
    "AWS-NITRO": BootTiming(start=30.0, attest=1.0, restore=20.0),  # enclave image boot; KMS decrypt
    "GCP-CONFSPACE": BootTiming(start=60.0, attest=2.0, restore=20.0),  # confidential VM + workload
    "SANDBOX": BootTiming(),  # the communal co-signer is Fireblocks-hosted and always on
}


def default_for(cosigner_type: str) -> BootTiming:
    try:
        return DEFAULTS[cosigner_type]
    except KeyError:
        raise ValueError(
            f"no boot-timing default for co-signer type {cosigner_type!r}; expected one of {', '.join(DEFAULTS)}"
        ) from None
