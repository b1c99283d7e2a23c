"""The parties that hold shares of a workspace key inside the SaaS's walls: the owner's mobile device
(simulated) and the two cloud co-signers. Each is its own object with its own DRBG and its own shares; the
SaaS coordinates them but reads no share.

Identifiers (shared convention with the node):
- the workspace key is 3-of-3 over {1: owner device, 2: cloud co-signer 1, 3: cloud co-signer 2};
- each paired API user gets a fresh 3-of-3 set {1: the node, 2: cloud co-signer 1, 3: cloud co-signer 2},
  reshared from the workspace key, so every set signs under the workspace's public key and no cloud share
  is ever reused between users.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from cosigner_ha import mpc, wire
from cosigner_ha.wire.sealing import seal

THRESHOLD = wire.SHARE_THRESHOLD
OWNER_ID = 1  # the owner's device holds identifier 1 of the workspace key, as the node does of a user's
NODE_ID = wire.NODE_IDENTIFIER
CLOUD_IDS = wire.CLOUD_IDENTIFIERS
WORKSPACE_IDS = (OWNER_ID, *CLOUD_IDS)
USER_IDS = (NODE_ID, *CLOUD_IDS)

Rng = Callable[[int], bytes]


class KeyHolder:
    """A party holding one share of each workspace key; takes part in key creation and resharing."""

    def __init__(self, name: str, identifier: int, rng: Rng) -> None:
        self.name = name
        self.identifier = identifier
        self._rng = rng
        self._workspace_keys: dict[str, mpc.KeyPackage] = {}
        self._dkg: dict[str, mpc.DkgRound1Secret] = {}
        self._dkg2: dict[str, mpc.DkgRound2Secret] = {}

    # --- workspace key creation: Pedersen DKG, so no party (and not the SaaS) ever sees the key ----------

    def dkg_part1(self, workspace_id: str) -> mpc.DkgRound1Package:
        secret, package = mpc.dkg_part1(self.identifier, len(WORKSPACE_IDS), THRESHOLD, self._rng)
        self._dkg[workspace_id] = secret
        return package

    def dkg_part2(
        self, workspace_id: str, round1: Mapping[int, mpc.DkgRound1Package]
    ) -> dict[int, mpc.DkgRound2Package]:
        others = {i: p for i, p in round1.items() if i != self.identifier}
        state, outgoing = mpc.dkg_part2(self._dkg.pop(workspace_id), others)
        self._dkg2[workspace_id] = state
        return outgoing

    def dkg_part3(
        self,
        workspace_id: str,
        round1: Mapping[int, mpc.DkgRound1Package],
        round2: Mapping[int, mpc.DkgRound2Package],
    ) -> mpc.PublicKeyPackage:
        others = {i: p for i, p in round1.items() if i != self.identifier}
        key, public = mpc.dkg_part3(self._dkg2.pop(workspace_id), others, round2)
        self._workspace_keys[workspace_id] = key
        return public

    # --- resharing the workspace key to an API user's fresh share set ------------------------------------

    def reshare_contribute(self, workspace_id: str) -> tuple[mpc.DealerCommitment, dict[int, mpc.DealtShare]]:
        return mpc.reshare_contribute(
            self._workspace_keys[workspace_id], WORKSPACE_IDS, USER_IDS, THRESHOLD, self._rng
        )

    def holds_workspace(self, workspace_id: str) -> bool:
        return workspace_id in self._workspace_keys

    # --- kept on disk by a SaaS that survives restarts (`saas serve --state`) -----------------------------

    def export_keys(self) -> dict[str, Any]:
        """The shares this party holds, as plain data (hex). Open DKG rounds are not kept: a workspace is
        created in one synchronous step."""
        return {"workspace": {ws: key.to_bytes().hex() for ws, key in self._workspace_keys.items()}}

    def import_keys(self, data: Mapping[str, Any]) -> None:
        self._workspace_keys = {
            ws: mpc.KeyPackage.from_bytes(bytes.fromhex(text)) for ws, text in data["workspace"].items()
        }


def sealed_for_node(
    transport_key: bytes,
    commitment: mpc.DealerCommitment,
    node_share: mpc.DealtShare,
    old_public: mpc.PublicKeyPackage,
    randbytes: Rng,
) -> bytes:
    """One dealer's piece of a node's new share, sealed to the node's transport key: only the node reads it."""
    contribution = wire.ShareContribution(
        sender=commitment.sender,
        receiver=NODE_ID,
        new_identifiers=list(USER_IDS),
        new_threshold=THRESHOLD,
        commitment=list(commitment.commitment),
        share=node_share.to_dict()["value"],
        old_public_package=old_public.to_bytes(),
    )
    return seal(transport_key, wire.encode(contribution), randbytes)


@dataclasses.dataclass(frozen=True)
class OwnerContribution:
    """The owner device's part of a pairing, made on the device: its commitment, the pieces for the two cloud
    co-signers, and the node's piece already sealed to the node (the SaaS relays it, unable to read it)."""

    commitment: mpc.DealerCommitment
    cloud_shares: dict[int, mpc.DealtShare]
    sealed_node: bytes

    def to_plain(self) -> dict[str, Any]:
        return {
            "commitment": self.commitment.to_dict(),
            "cloud_shares": [share.to_dict() for share in self.cloud_shares.values()],
            "sealed_node": self.sealed_node,
        }

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> OwnerContribution:
        commitment = mpc.DealerCommitment.from_dict(data["commitment"])
        if commitment.sender != OWNER_ID:
            raise ValueError(f"the owner device deals as participant {OWNER_ID}, not {commitment.sender}")
        shares = [mpc.DealtShare.from_dict(item) for item in data["cloud_shares"]]
        if sorted(s.receiver for s in shares) != list(CLOUD_IDS):
            raise ValueError(f"expected pieces for the cloud co-signers {list(CLOUD_IDS)}")
        sealed = data["sealed_node"]
        if not isinstance(sealed, bytes):
            raise ValueError("sealed_node: expected bytes")
        return cls(commitment, {s.receiver: s for s in shares}, sealed)


class OwnerDevice(KeyHolder):
    """The workspace owner's mobile device. Its approval of a pairing is its resharing contribution."""

    def __init__(self, rng: Rng) -> None:
        super().__init__("owner-device", OWNER_ID, rng)
        self._publics: dict[str, mpc.PublicKeyPackage] = {}

    def dkg_part3(
        self,
        workspace_id: str,
        round1: Mapping[int, mpc.DkgRound1Package],
        round2: Mapping[int, mpc.DkgRound2Package],
    ) -> mpc.PublicKeyPackage:
        public = super().dkg_part3(workspace_id, round1, round2)
        self._publics[workspace_id] = public
        return public

    def pairing_contribution(self, workspace_id: str, transport_key: bytes) -> OwnerContribution:
        """On the device (`cosigner-ha owner serve`): its resharing contribution, the node's piece sealed."""
        commitment, shares = self.reshare_contribute(workspace_id)
        sealed = sealed_for_node(
            transport_key, commitment, shares[NODE_ID], self._publics[workspace_id], self._rng
        )
        return OwnerContribution(commitment, {i: s for i, s in shares.items() if i != NODE_ID}, sealed)

    def export_keys(self) -> dict[str, Any]:
        publics = {ws: public.to_bytes().hex() for ws, public in self._publics.items()}
        return {**super().export_keys(), "publics": publics}

    def import_keys(self, data: Mapping[str, Any]) -> None:
        super().import_keys(data)
        self._publics = {
            ws: mpc.PublicKeyPackage.from_bytes(bytes.fromhex(text))
            for ws, text in data.get("publics", {}).items()
        }


class CloudCosigner(KeyHolder):
    """Cloud co-signer 1 or 2: a real FROST party in every signature, with its own shares and nonces."""

    def __init__(self, index: int, rng: Rng) -> None:
        if index not in (1, 2):
            raise ValueError(f"there are cloud co-signers 1 and 2, not {index}")
        super().__init__(f"cloud-{index}", CLOUD_IDS[index - 1], rng)
        self.index = index
        self._user_keys: dict[tuple[str, str], mpc.KeyPackage] = {}
        self._nonces: dict[str, mpc.SigningNonces] = {}
        self.consumed = mpc.ConsumedNonces()

    def reshare_combine(
        self,
        workspace_id: str,
        api_user_id: str,
        old_public: mpc.PublicKeyPackage,
        commitments: Mapping[int, mpc.DealerCommitment],
        shares: Mapping[int, mpc.DealtShare],
    ) -> mpc.PublicKeyPackage:
        """Check every dealt piece and keep the new share for this API user (replacing an older one)."""
        key, public = mpc.reshare_combine(
            self.identifier, USER_IDS, THRESHOLD, old_public, commitments, shares
        )
        self._user_keys[(workspace_id, api_user_id)] = key
        return public

    def export_keys(self) -> dict[str, Any]:
        """Workspace and per-user shares. Nonce pairs are never kept: after a restart every open session is
        abandoned and a fresh pair is drawn, so no pair can be used twice (hence no consumed-nonce ledger)."""
        users = [[ws, user, key.to_bytes().hex()] for (ws, user), key in self._user_keys.items()]
        return {**super().export_keys(), "users": users}

    def import_keys(self, data: Mapping[str, Any]) -> None:
        super().import_keys(data)
        self._user_keys = {
            (ws, user): mpc.KeyPackage.from_bytes(bytes.fromhex(text)) for ws, user, text in data["users"]
        }

    def forget_user(self, workspace_id: str, api_user_id: str) -> bool:
        """Unpairing destroys this party's share of the user's set; the node's share becomes useless."""
        return self._user_keys.pop((workspace_id, api_user_id), None) is not None

    def holds_user(self, workspace_id: str, api_user_id: str) -> bool:
        return (workspace_id, api_user_id) in self._user_keys

    def commit(self, session_id: str, workspace_id: str, api_user_id: str) -> mpc.SigningCommitments:
        key = self._user_keys.get((workspace_id, api_user_id))
        if key is None:
            raise LookupError(
                f"{self.name} holds no share for API user {api_user_id} of workspace {workspace_id}"
            )
        if session_id in self._nonces:
            raise ValueError(f"{self.name} already committed for session {session_id}")
        nonces, commitments = mpc.commit(key, self._rng)
        self._nonces[session_id] = nonces
        return commitments

    def nonces(self, session_id: str) -> mpc.SigningNonces:
        """The pair committed for `session_id`, not consumed: for the SaaS's `SigningSession`, which folds
        both cloud co-signers' nonce terms of the group commitment into one base-point multiplication."""
        return self._nonces[session_id]

    def sign(
        self, session_id: str, workspace_id: str, api_user_id: str, signing: mpc.SigningSession
    ) -> tuple[mpc.SignatureShare, bytes]:
        """Round two with the session's group commitment and challenge (computed once for both cloud
        co-signers and the aggregator); the nonce pair is consumed (and recorded) before the share exists
        outside."""
        nonces = self._nonces.pop(session_id)
        key = self._user_keys[(workspace_id, api_user_id)]
        share = signing.sign(nonces, key, persist=self.consumed.mark)
        return share, nonces.nonce_id

    def discard(self, session_id: str) -> bool:
        """Drop an unused nonce pair (an aborted session): it is never used, so it can never be reused."""
        return self._nonces.pop(session_id, None) is not None

    @property
    def open_sessions(self) -> int:
        return len(self._nonces)
