"""FROST threshold signatures (RFC 9591), key generation, refresh, resharing, nonce bookkeeping.

Pure computation on plain data; imports nothing else of ours. Randomness always comes in as
`rng: Callable[[int], bytes]` (n bytes per call): a seeded DRBG in simulation, the OS CSPRNG in the runtime.
See docs/mpc.md for the API, the nonce-persistence contract and the RFC sections each part follows.

The names below are the FROST(Ed25519, SHA-512) suite. `cosigner_ha.mpc.bip340` holds the optional
secp256k1 suite with BIP-340 signatures (trusted-dealer keys, signing, aggregation, verification).
"""

from __future__ import annotations

from .dkg import (
    DkgRound1Package,
    DkgRound1Secret,
    DkgRound2Package,
    DkgRound2Secret,
    dkg_part1,
    dkg_part2,
    dkg_part3,
    run_dkg,
)
from .errors import (
    CommitmentMismatchError,
    DecodeError,
    DuplicateIdentifierError,
    IdentityElementError,
    InvalidElementError,
    InvalidIdentifierError,
    InvalidProofOfKnowledgeError,
    InvalidScalarError,
    InvalidSecretShareError,
    InvalidSignatureShareError,
    KeyMismatchError,
    MpcError,
    NonCanonicalElementError,
    NonceReuseError,
    NotInSubgroupError,
    NotOnCurveError,
    SmallOrderElementError,
    ThresholdError,
    UnknownIdentifierError,
)
from .keys import KeyPackage, PublicKeyPackage, SecretShare, trusted_dealer_keygen, trusted_dealer_shares
from .nonces import NONCE_ID_SIZE, ConsumedNonces
from .resharing import (
    DealerCommitment,
    refresh,
    refresh_combine,
    refresh_contribute,
    reshare,
    reshare_combine,
    reshare_contribute,
)
from .rng import Rng
from .shamir import DealtShare
from .signing import (
    SignatureShare,
    SigningCommitments,
    SigningNonces,
    SigningPackage,
    SigningSession,
    aggregate,
    commit,
    sign,
    sign_once,
    verify,
    verify_signature_share,
)

#: Scheme name carried by trace events (`signed` events' `scheme` field).
scheme = "frost-ed25519"

__all__ = [
    "NONCE_ID_SIZE",
    "CommitmentMismatchError",
    "ConsumedNonces",
    "DealerCommitment",
    "DealtShare",
    "DecodeError",
    "DkgRound1Package",
    "DkgRound1Secret",
    "DkgRound2Package",
    "DkgRound2Secret",
    "DuplicateIdentifierError",
    "IdentityElementError",
    "InvalidElementError",
    "InvalidIdentifierError",
    "InvalidProofOfKnowledgeError",
    "InvalidScalarError",
    "InvalidSecretShareError",
    "InvalidSignatureShareError",
    "KeyMismatchError",
    "KeyPackage",
    "MpcError",
    "NonCanonicalElementError",
    "NonceReuseError",
    "NotInSubgroupError",
    "NotOnCurveError",
    "PublicKeyPackage",
    "Rng",
    "SecretShare",
    "SignatureShare",
    "SigningCommitments",
    "SigningNonces",
    "SigningPackage",
    "SigningSession",
    "SmallOrderElementError",
    "ThresholdError",
    "UnknownIdentifierError",
    "aggregate",
    "commit",
    "dkg_part1",
    "dkg_part2",
    "dkg_part3",
    "refresh",
    "refresh_combine",
    "refresh_contribute",
    "reshare",
    "reshare_combine",
    "reshare_contribute",
    "run_dkg",
    "scheme",
    "sign",
    "sign_once",
    "trusted_dealer_keygen",
    "trusted_dealer_shares",
    "verify",
    "verify_signature_share",
]
