"""The SaaS's tunables, with the defaults of DESIGN.md section 2. Durations are seconds."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from cosigner_ha.env.compute import SigningCapacity

Selection = Literal["first-responder", "listed-order"]
SELECTIONS: tuple[Selection, ...] = ("first-responder", "listed-order")

CallbackTimeoutPolicy = Literal["fail", "next-node"]

#: The cloud co-signers' signing capacity: MPC rounds computed at once and one round's time. Fireblocks
#: publishes neither; assumed: its cloud co-signers run on servers it sizes for every customer, so a
#: round is about as fast as in a self-hosted enclave (20 ms) and many run at once (64). The two cloud
#: co-signers compute each round in parallel and are equally loaded, so one pool of slots stands for
#: both. docs/performance.md ("Signing capacity") has the reasoning.
CLOUD_SIGNING = SigningCapacity(sessions=64, round_time=0.020)


@dataclasses.dataclass(frozen=True, slots=True)
class SaasConfig:
    """Everything the SaaS lets a scenario change. Undocumented product behaviour is marked as a choice."""

    long_poll_interval: float = 30.0
    probe_window: float = 3.0  # not documented by the vendor; the simulator's choice
    selection: Selection = "first-responder"
    offline_after: float = 15 * 60.0
    pairing_token_ttl: float = 3600.0
    access_token_ttl: float = 600.0  # not documented; short-lived by design
    authorization_timeout: float = 2 * 3600.0
    signing_timeout: float = 2 * 3600.0
    #: A dispatched signing attempt is abandoned when its node makes no progress for this long. Covers the
    #: callback handler's 30 s deadline plus two polls; raise it when handlers answer RETRY.
    attempt_timeout: float = 75.0
    #: A dispatched node whose every connection broke and stayed down this long is given up at once (a
    #: crash), without waiting for the attempt timeout.
    disconnect_grace: float = 10.0
    #: After a probe round finds nobody available, wait this long before probing again.
    reprobe_interval: float = 5.0
    #: What a callback timeout (the node reports FAILED) does: fail the transaction, or try another node.
    callback_failure: CallbackTimeoutPolicy = "fail"
    #: Sub-statuses for the undocumented cases (cosigner-protocol.md section 7, tap-policy.md section 3.1).
    reject_sub_status: str = "REJECTED_BY_USER"
    callback_failure_sub_status: str = "TIMEOUT"
    signing_timeout_sub_status: str = "TIMEOUT"
    authorization_timeout_sub_status: str = "TIMEOUT"
    #: An owner's pairing approval notification can be acted on for 12 hours (troubleshooting page).
    owner_approval_timeout: float = 12 * 3600.0
    #: An approved unpairing waits this long for the node's CommandResult before revoking its access tokens
    #: anyway (a node whose last API user is unpaired has no token left to report with).
    unpair_confirm_timeout: float = 15 * 60.0
    #: Configuration-change requests expire after 7 days without an answer (tap-policy.md section 2.6).
    config_change_timeout: float = 7 * 24 * 3600.0
    #: Co-signer ids in the order "listed-order" selection prefers them; unlisted ones follow in pairing order.
    listed_order: tuple[str, ...] = ()
    #: The cloud co-signers' compute per signing round (rounds beyond `sessions` queue).
    cloud_signing: SigningCapacity = CLOUD_SIGNING

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if field.type not in ("float", float):
                continue
            value = getattr(self, field.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(f"saas.{field.name}: expected a positive duration in seconds, got {value!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(
                f"saas.selection: expected one of {', '.join(SELECTIONS)}, got {self.selection!r}"
            )
        if self.callback_failure not in ("fail", "next-node"):
            raise ValueError(
                f"saas.callback_failure: expected 'fail' or 'next-node', got {self.callback_failure!r}"
            )
        if not isinstance(self.listed_order, tuple) or not all(isinstance(c, str) for c in self.listed_order):
            raise ValueError(
                f"saas.listed_order: expected a tuple of co-signer ids, got {self.listed_order!r}"
            )
