"""The co-signer registry: which co-signers exist, what they are, whom they are paired with, when they
were last seen. Pairing rules that depend on the co-signer's type are enforced here.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable

from cosigner_ha.saas_sim.errors import (
    CommunalOnTestnetOnly,
    Conflict,
    NotFound,
    SingleWorkspaceOnly,
    ValidationError,
)
from cosigner_ha.saas_sim.workspace import Network, Workspace


class CosignerType(enum.StrEnum):
    SGX = "SGX"
    AWS_NITRO = "AWS-NITRO"
    GCP_CONFSPACE = "GCP-CONFSPACE"
    SANDBOX = "SANDBOX"  # the communal co-signer


@dataclasses.dataclass(slots=True)
class Pairing:
    """One API user paired with one co-signer: the node holds identifier 1 of this user's share set."""

    workspace_id: str
    api_user: str
    api_user_id: str
    paired_at: float
    refresh_jti: str
    config_key: bytes  # the node's key for this user's configuration-change approvals


@dataclasses.dataclass(slots=True)
class Cosigner:
    id: str
    name: str
    type: CosignerType
    version: str
    transport_key: bytes = b""
    pairings: list[Pairing] = dataclasses.field(default_factory=list)
    #: Simulated seconds (`clock.now()`) of the last poll; None: never polled.
    last_seen: float | None = None
    #: Passive node: probed like the others, chosen only when no active node answered.
    standby: bool = False
    archived: bool = False
    #: Bumped whenever a pairing is undone: access tokens of an older generation are refused.
    generation: int = 0
    #: API user id -> unpairing request id, for unpairings the node has not confirmed yet.
    unpairing: dict[str, str] = dataclasses.field(default_factory=dict)

    def pairing(self, workspace_id: str, api_user: str) -> Pairing | None:
        for p in self.pairings:
            if p.workspace_id == workspace_id and p.api_user == api_user:
                return p
        return None

    def workspaces(self) -> list[str]:
        out: list[str] = []
        for p in self.pairings:
            if p.workspace_id not in out:
                out.append(p.workspace_id)
        return out


class CosignerRegistry:
    """Co-signers in registration order (the order "listed-order" falls back to)."""

    def __init__(self, *, offline_after: float, now: Callable[[], float]) -> None:
        self._offline_after = offline_after
        self._now = now
        self._cosigners: dict[str, Cosigner] = {}

    def register(self, cosigner_id: str, type_: str, version: str, *, name: str | None = None) -> Cosigner:
        """Add a co-signer, or return the existing one after checking it claims the same type."""
        if not cosigner_id:
            raise ValidationError("cosigner_id", "expected a non-empty co-signer id")
        try:
            ctype = CosignerType(type_)
        except ValueError:
            allowed = ", ".join(t.value for t in CosignerType)
            raise ValidationError("cosigner_type", f"expected one of {allowed}, got {type_!r}") from None
        existing = self._cosigners.get(cosigner_id)
        if existing is not None:
            if existing.type is not ctype:
                raise Conflict(
                    f"co-signer {cosigner_id!r} is registered as {existing.type.value}, not {ctype.value}"
                )
            existing.version = version or existing.version
            return existing
        cosigner = Cosigner(cosigner_id, name or cosigner_id, ctype, version)
        self._cosigners[cosigner_id] = cosigner
        return cosigner

    def restore(self, cosigner: Cosigner) -> None:
        """A co-signer as a restarted SaaS saved it (in registration order)."""
        self._cosigners[cosigner.id] = cosigner

    def get(self, cosigner_id: str) -> Cosigner:
        try:
            return self._cosigners[cosigner_id]
        except KeyError:
            raise NotFound(f"no co-signer {cosigner_id!r} is registered") from None

    def find(self, cosigner_id: str) -> Cosigner | None:
        return self._cosigners.get(cosigner_id)

    def all(self) -> list[Cosigner]:
        return list(self._cosigners.values())

    @staticmethod
    def check_can_pair(cosigner: Cosigner, workspace: Workspace) -> None:
        """The type rules of DESIGN.md section 2, refused with their own error classes."""
        if cosigner.type is CosignerType.SANDBOX and workspace.network is Network.MAINNET:
            raise CommunalOnTestnetOnly(
                f"co-signer {cosigner.name!r} is the communal (SANDBOX) co-signer, which pairs only with "
                f"testnet and sandbox workspaces; workspace {workspace.name!r} is mainnet"
            )
        if cosigner.type is CosignerType.GCP_CONFSPACE:
            others = [w for w in cosigner.workspaces() if w != workspace.id]
            if others:
                raise SingleWorkspaceOnly(  # the product's words: "GCP Co-signer can only connect to one
                    # workspace at a time" (developers.fireblocks.com, GCP Confidential Space API Co-signer)
                    f"co-signer {cosigner.name!r} is a GCP Confidential Space co-signer, which serves one "
                    f"workspace only (it can only connect to one workspace at a time); it already serves "
                    f"workspace {others[0]!r}, so it cannot pair with {workspace.name!r}"
                )

    def add_pairing(self, cosigner: Cosigner, pairing: Pairing) -> None:
        if cosigner.pairing(pairing.workspace_id, pairing.api_user) is not None:
            raise Conflict(
                f"API user {pairing.api_user!r} is already paired with co-signer {cosigner.name!r}"
            )
        cosigner.pairings.append(pairing)

    def remove_pairing(self, cosigner: Cosigner, workspace_id: str, api_user: str) -> Pairing:
        pairing = cosigner.pairing(workspace_id, api_user)
        if pairing is None:
            raise NotFound(f"API user {api_user!r} is not paired with co-signer {cosigner.name!r}")
        cosigner.pairings.remove(pairing)
        return pairing

    def seen(self, cosigner: Cosigner) -> None:
        cosigner.last_seen = self._now()

    def is_online(self, cosigner: Cosigner) -> bool:
        """Shown offline after `offline_after` seconds without a poll (15 minutes by default)."""
        if cosigner.archived or cosigner.last_seen is None:
            return False
        return self._now() - cosigner.last_seen < self._offline_after

    def paired_with(self, workspace_id: str, api_user: str) -> list[Cosigner]:
        return [
            c
            for c in self._cosigners.values()
            if not c.archived and c.pairing(workspace_id, api_user) is not None
        ]

    def rename(self, cosigner: Cosigner, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name", f"expected a non-empty co-signer name, got {name!r}")
        cosigner.name = name
