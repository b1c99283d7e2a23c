"""A node's tunables and the names of its states."""

from __future__ import annotations

import dataclasses
from typing import Literal

from cosigner_ha.node.callback import CallbackPolicy

State = Literal["stopped", "booting", "running", "draining", "failed", "crashed"]
FINAL_REQUEST_STATES = ("COMPLETED", "REJECTED", "CANCELLED")


@dataclasses.dataclass(frozen=True, slots=True)
class NodeConfig:
    """A node's tunables (DESIGN.md section 2 defaults). Durations are seconds."""

    cosigner_id: str | None = None  # the id the SaaS registers; default: the node's name
    version: str = "1.0.0"
    poll_interval: float = 30.0  # the long-poll cycle (the product hard-codes 30 s)
    poll_grace: float = 15.0  # how much longer than that a held poll may take before it counts as lost
    request_timeout: float = 30.0
    callback: CallbackPolicy = dataclasses.field(default_factory=CallbackPolicy)
    token_margin: float = 60.0  # refresh the access token this long before it expires
    backoff_min: float = 1.0
    backoff_max: float = 30.0
    boot_retry: float | None = (
        30.0  # a failed boot or a crash on an I/O fault restarts after this; None: stays down
    )
    drain_timeout: float = 60.0
    keep_backups: int | None = None  # SGX snapshots kept; None: all (the product keeps every one)
    log_level: str = "INFO"
    log_max_bytes: int = 4_100_000
    log_files: int = 10
