"""What one process incarnation of a node holds in memory.

A crash or stop drops the whole object and the next boot starts from a fresh one, so no field can be
forgotten in a hand-kept reset list: what must survive a crash belongs on disk (the database), not here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.node.database import Database
from cosigner_ha.node.party import Signer


@dataclasses.dataclass(slots=True)
class ProcessState:
    """The in-memory state of one process: open database, loaded shares, signing sessions, token, keys."""

    nonce_rand: Callable[[int], bytes]  # signing nonces; seeded per ledger epoch at boot
    db: Database | None = None
    signers: dict[str, Signer] = dataclasses.field(default_factory=dict)
    sessions: dict[str, tuple[str, float]] = dataclasses.field(default_factory=dict)  # id -> (user, deadline)
    token: str = ""  # the SaaS access token
    token_expires: float = 0.0
    rsa_key: rsa.RSAPrivateKey | None = None  # the callback JWT key, loaded from the database on first use
