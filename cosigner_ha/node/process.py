"""What one incarnation of the co-signer process holds in memory, in one object.

A crash or a stop drops the whole object and the next boot starts from a new one, so nothing that lived in
memory (the open database, loaded shares, signing sessions and their nonces, the access token, the callback
key) can outlive the process by being forgotten in a hand-kept list of fields to reset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import anyio
import anyio.abc
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.node.database import Database
from cosigner_ha.node.party import Signer


@dataclasses.dataclass(eq=False)
class Process:
    """The in-memory state of one process lifetime (see the module docstring)."""

    #: Where this incarnation's nonces come from (set at boot, per nonce-ledger epoch).
    nonce_rand: Callable[[int], bytes]
    db: Database | None = None
    #: API user -> the loaded key share that signs for it.
    signers: dict[str, Signer] = dataclasses.field(default_factory=dict)
    #: Open signing session -> (API user, deadline).
    sessions: dict[str, tuple[str, float]] = dataclasses.field(default_factory=dict)
    token: str = ""
    token_expires: float = 0.0
    token_lock: anyio.Lock = dataclasses.field(default_factory=anyio.Lock)
    rsa: rsa.RSAPrivateKey | None = None
    #: The task group the incarnation's work runs in (None before it serves).
    tasks: anyio.abc.TaskGroup | None = None
