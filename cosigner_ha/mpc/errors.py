"""One error hierarchy for the signing core.

Every error names what was wrong and, where it is known, which participant sent it and which field held it,
so that a coordinator can blame the right party and a person can read the message without the source.
Input errors also derive from `ValueError`, so code that treats bad input generically keeps working.
"""

from __future__ import annotations


class MpcError(Exception):
    """Root of every error raised by `cosigner_ha.mpc`."""

    def __init__(self, message: str, *, participant: int | None = None, field: str | None = None) -> None:
        where = []
        if participant is not None:
            where.append(f"participant {participant}")
        if field is not None:
            where.append(field)
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.participant = participant
        self.field = field


class DecodeError(MpcError, ValueError):
    """An encoding is malformed: wrong length, type tag, version, keys or value types."""


class InvalidElementError(MpcError, ValueError):
    """A group element failed RFC 9591 `DeserializeElement` validation (section 3.1 / 6.1)."""


class IdentityElementError(InvalidElementError):
    """The element is the identity, which FROST never accepts from a peer."""


class NonCanonicalElementError(InvalidElementError):
    """The encoding is not the canonical one (y >= p, or a negative zero x coordinate)."""


class NotOnCurveError(InvalidElementError):
    """The 32 bytes do not decode to a point of edwards25519."""


class SmallOrderElementError(InvalidElementError):
    """The point has order dividing 8 (the cofactor), so it carries no secret and breaks binding."""


class NotInSubgroupError(InvalidElementError):
    """The point lies on the curve but outside the prime-order subgroup (it has a torsion component)."""


class InvalidScalarError(MpcError, ValueError):
    """A scalar is out of range (not an integer in [0, L)) or zero where zero is forbidden."""


class InvalidIdentifierError(MpcError, ValueError):
    """A participant identifier is not an integer in [1, L)."""


class DuplicateIdentifierError(MpcError, ValueError):
    """The same participant identifier appears twice where each must be distinct."""


class UnknownIdentifierError(MpcError, ValueError):
    """A participant identifier is not one the key or the session knows."""


class CommitmentMismatchError(MpcError, ValueError):
    """A commitment list does not match the signers (missing, extra, or not this signer's nonces)."""


class ThresholdError(MpcError, ValueError):
    """A threshold is out of range, or fewer signers than the threshold took part."""


class NonceReuseError(MpcError):
    """A round-one nonce pair was already used (or recorded as consumed) and must never sign again."""


class InvalidSignatureShareError(MpcError):
    """The aggregate signature did not verify; `culprits` names the participants whose shares are wrong."""

    def __init__(self, message: str, culprits: tuple[int, ...]) -> None:
        super().__init__(message)
        self.culprits = culprits


class InvalidSecretShareError(MpcError):
    """A secret share does not match its sender's Feldman commitment (keygen, DKG, refresh, reshare)."""


class InvalidProofOfKnowledgeError(MpcError):
    """A DKG participant's Schnorr proof of knowledge of its constant term does not verify."""


class KeyMismatchError(MpcError, ValueError):
    """Packages that must describe one group key do not (different keys, thresholds, or shares)."""
