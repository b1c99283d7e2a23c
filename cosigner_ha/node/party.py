"""The node's MPC party: one FROST signer per paired API user (identifier 1 of a 3-of-3 share set).

Pairing hands the node sealed resharing contributions (`wire.ShareContribution`, sealed to its transport
key); `combine` opens them and runs `mpc.reshare_combine`, which checks every dealt piece against the old
holders' commitments, and insists that the result is the public key package the SaaS announced.

Signing keeps round-one nonces in memory only, one pair per session. Round two signs only the message
the callback handler approved and only with the node's own commitments, and calls `persist(nonce_id)`
(the database's durable nonce ledger) before the share exists outside `mpc`: a crash after that point
loses a share, never spends a nonce twice. The nonce randomness is a stream per boot epoch (see
`database`), so not even a restored node draws a nonce it drew before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import nacl.exceptions
import nacl.public

from cosigner_ha import mpc
from cosigner_ha.node.errors import NodeError, NonceError, PairingError
from cosigner_ha.wire import NODE_IDENTIFIER as NODE_IDENTIFIER  # node.py imports it from here
from cosigner_ha.wire import CodecError, PairCompleted, ShareContribution, decode_as
from cosigner_ha.wire.sealing import unseal


def combine(done: PairCompleted, transport_key: bytes) -> tuple[mpc.KeyPackage, mpc.PublicKeyPackage]:
    """The node's new key package from a completed pairing, checked, or `PairingError` saying why not."""
    if not done.contributions:
        raise PairingError(
            "the completed pairing carries no key-share contributions", code="BAD_KEY_MATERIAL"
        )
    pieces: list[ShareContribution] = []
    for n, sealed in enumerate(done.contributions):
        try:
            pieces.append(decode_as(unseal(transport_key, sealed), ShareContribution))
        except (nacl.exceptions.CryptoError, ValueError) as exc:
            raise PairingError(
                f"contribution {n} does not open with this co-signer's transport key: {exc}",
                code="BAD_KEY_MATERIAL",
            ) from None
        except CodecError as exc:
            raise PairingError(
                f"contribution {n} is not a share contribution: {exc}", code="BAD_KEY_MATERIAL"
            ) from None
    first = pieces[0]
    for n, piece in enumerate(pieces):
        if piece.receiver != done.identifier:
            raise PairingError(
                f"contribution {n} is for participant {piece.receiver}, this co-signer is {done.identifier}",
                code="BAD_KEY_MATERIAL",
            )
        if (piece.new_identifiers, piece.new_threshold, piece.old_public_package) != (
            first.new_identifiers,
            first.new_threshold,
            first.old_public_package,
        ):
            raise PairingError(
                f"contribution {n} disagrees with contribution 0 on the share set", code="BAD_KEY_MATERIAL"
            )
    try:
        old = mpc.PublicKeyPackage.from_bytes(first.old_public_package)
        commitments = {p.sender: mpc.DealerCommitment(p.sender, tuple(p.commitment)) for p in pieces}
        shares = {
            p.sender: mpc.DealtShare.from_dict({"sender": p.sender, "receiver": p.receiver, "value": p.share})
            for p in pieces
        }
        key, public = mpc.reshare_combine(
            done.identifier, first.new_identifiers, first.new_threshold, old, commitments, shares
        )
    except mpc.MpcError as exc:
        raise PairingError(
            f"the key-share contributions do not check out: {exc}", code="BAD_KEY_MATERIAL"
        ) from None
    if public.to_bytes() != done.public_package:
        raise PairingError(
            "the combined share set is not the one the SaaS announced (public key packages differ)",
            code="BAD_KEY_MATERIAL",
        )
    return key, public


@dataclasses.dataclass(eq=False)
class _Session:
    message: bytes
    nonces: mpc.SigningNonces
    commitments: mpc.SigningCommitments
    share: bytes | None = None


class Signer:
    """One API user's signing state: key package, and the nonce pairs of open sessions (memory only)."""

    def __init__(
        self, api_user: str, key_package: mpc.KeyPackage, public_package: mpc.PublicKeyPackage
    ) -> None:
        self.api_user = api_user
        self.key = key_package
        self.public = public_package
        self._sessions: dict[str, _Session] = {}

    @classmethod
    def load(cls, api_user: str, key_package: bytes, public_package: bytes) -> Signer:
        return cls(
            api_user, mpc.KeyPackage.from_bytes(key_package), mpc.PublicKeyPackage.from_bytes(public_package)
        )

    @property
    def group_public_key(self) -> bytes:
        return self.public.group_public_key

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    def commit(
        self, session_id: str, message: bytes, randbytes: Callable[[int], bytes]
    ) -> mpc.SigningCommitments:
        """Round one for `session_id` (whose `message` the handler approved)."""
        if session_id in self._sessions:
            raise NonceError(f"session {session_id} already has a nonce pair; refusing to commit twice")
        nonces, commitments = mpc.commit(self.key, randbytes)
        self._sessions[session_id] = _Session(message, nonces, commitments)
        return commitments

    def sign(
        self, session_id: str, signing_package: bytes, persist: Callable[[bytes], None]
    ) -> tuple[bytes, bytes]:
        """Round two: `(share bytes, nonce_id)`. The nonce pair is persisted as consumed first.

        Asking again for the same session returns the same share (it was computed once); a session this
        process never committed to (it restarted since) is refused.
        """
        session = self._sessions.get(session_id)
        if session is None:
            raise NonceError(
                f"no nonce pair for session {session_id} (never committed here, aborted, or lost in a restart)"
            )
        if session.share is not None:
            return session.share, session.commitments.nonce_id
        try:
            package = mpc.SigningPackage.from_bytes(signing_package, known=(session.commitments,))
        except mpc.MpcError as exc:
            raise NodeError(f"session {session_id}: the signing package does not decode: {exc}") from None
        if package.message != session.message:
            raise NodeError(
                f"session {session_id}: the signing package's message is not the one the callback handler approved"
            )
        mine = package.commitments.get(self.key.identifier)
        if mine != session.commitments:
            raise NodeError(
                f"session {session_id}: the signing package does not carry this co-signer's commitments"
            )
        try:
            share = mpc.sign_once(package, session.nonces, self.key, persist=persist)
        except mpc.InvalidElementError as exc:  # a peer's binding point, validated by the multiplication
            self._sessions.pop(session_id, None)
            raise NodeError(f"session {session_id}: the signing package does not decode: {exc}") from None
        except mpc.MpcError as exc:
            self._sessions.pop(session_id, None)
            raise NodeError(f"session {session_id}: cannot sign: {exc}") from None
        session.share = share.to_bytes()
        return session.share, session.commitments.nonce_id

    def drop(self, session_id: str) -> bool:
        """Forget a session (aborted, or finished): its nonce pair is never used."""
        return self._sessions.pop(session_id, None) is not None
