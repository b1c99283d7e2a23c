"""RFC 9591 Appendix E and Zcash Foundation vectors: every intermediate value, and the final signature."""

from __future__ import annotations

import pytest

from cosigner_ha.mpc import KeyPackage, PublicKeyPackage, SigningPackage, aggregate, commit, sign, verify
from cosigner_ha.mpc.dkg import (
    DkgRound1Package,
    DkgRound2Package,
    dkg_part2,
    dkg_part3,
    dkg_round1_from_coefficients,
    verify_proof_of_knowledge,
)
from cosigner_ha.mpc.ed25519 import L, base_mult
from cosigner_ha.mpc.keys import split_secret
from cosigner_ha.mpc.signing import binding_factor_inputs, binding_factors

from .helpers import cryptography_verifies, load_vector, nacl_verifies, scalar

SIGNING_VECTORS = [
    "cfrg_frost-ed25519-sha512.json",
    "zcash_frost-ed25519_vectors.json",
    "zcash_frost-ed25519_vectors-big-identifier.json",
]


@pytest.mark.parametrize("name", SIGNING_VECTORS)
def test_signing_vector_reproduces_every_value(name: str) -> None:
    vector = load_vector(name)
    inputs = vector["inputs"]
    group_key = bytes.fromhex(inputs.get("group_public_key") or inputs["verifying_key_key"])
    secret = scalar(inputs["group_secret_key"])
    threshold = int(vector["config"]["MIN_PARTICIPANTS"])
    assert int(vector["config"]["MAX_PARTICIPANTS"]) == len(inputs["participant_shares"])

    # Key generation (Appendix C): shares from the given polynomial, group key from the secret.
    identifiers = [p["identifier"] for p in inputs["participant_shares"]]
    shares = split_secret(secret, [scalar(c) for c in inputs["share_polynomial_coefficients"]], identifiers)
    assert {p["identifier"]: scalar(p["participant_share"]) for p in inputs["participant_shares"]} == shares
    assert base_mult(secret) == group_key
    key_packages = {
        i: KeyPackage(i, shares[i], base_mult(shares[i]), group_key, threshold) for i in identifiers
    }
    public = PublicKeyPackage({i: key_packages[i].verifying_share for i in identifiers}, group_key, threshold)

    # Round one: nonces from the given randomness, and their commitments.
    round_one = vector["round_one_outputs"]["outputs"]
    assert [o["identifier"] for o in round_one] == inputs["participant_list"]
    nonces, commitments = {}, {}
    for output in round_one:
        i = output["identifier"]
        stream = [
            bytes.fromhex(output["hiding_nonce_randomness"]),
            bytes.fromhex(output["binding_nonce_randomness"]),
        ]
        nonces[i], commitments[i] = commit(key_packages[i], lambda n, s=stream: s.pop(0))
        assert nonces[i]._hiding == scalar(output["hiding_nonce"])
        assert nonces[i]._binding == scalar(output["binding_nonce"])
        assert commitments[i].hiding.hex() == output["hiding_nonce_commitment"]
        assert commitments[i].binding.hex() == output["binding_nonce_commitment"]

    package = SigningPackage(bytes.fromhex(inputs["message"]), commitments)
    factor_inputs = binding_factor_inputs(group_key, package)
    factors = binding_factors(group_key, package)
    for output in round_one:
        assert factor_inputs[output["identifier"]].hex() == output["binding_factor_input"]
        assert factors[output["identifier"]] == scalar(output["binding_factor"])

    # Round two and aggregation.
    signature_shares = {}
    for output in vector["round_two_outputs"]["outputs"]:
        i = output["identifier"]
        signature_shares[i] = sign(package, nonces[i], key_packages[i])
        assert signature_shares[i].share == scalar(output["sig_share"])
    signature = aggregate(package, signature_shares, public)
    assert signature.hex() == vector["final_output"]["sig"]
    for check in (verify, nacl_verifies, cryptography_verifies):
        assert check(group_key, package.message, signature)


def test_dkg_vector_reproduces_commitments_shares_and_keys() -> None:
    vector = load_vector("zcash_frost-ed25519_vectors_dkg.json")
    inputs = vector["inputs"]
    max_signers = vector["config"]["MAX_PARTICIPANTS"]
    identifiers = list(range(1, max_signers + 1))
    broadcast = {}
    for i in identifiers:
        data = inputs[str(i)]
        commitment = tuple(bytes.fromhex(c) for c in data["vss_commitments"])
        broadcast[i] = DkgRound1Package(i, commitment, bytes.fromhex(data["proof_of_knowledge"]))
        verify_proof_of_knowledge(broadcast[i])  # the vector's proofs check out under our HDKG

    for i in identifiers:
        data = inputs[str(i)]
        coefficients = (scalar(data["signing_key"]), scalar(data["coefficient"]))
        stream = [bytes(63) + b"\x01"]
        secret, package = dkg_round1_from_coefficients(
            i, coefficients, max_signers, lambda n, s=stream: s.pop(0)
        )
        assert package.commitment == broadcast[i].commitment
        verify_proof_of_knowledge(package)  # our own proof (fresh nonce) verifies too
        others = {j: broadcast[j] for j in identifiers if j != i}
        state, outgoing = dkg_part2(secret, others)
        for j, share in outgoing.items():
            assert share.value == scalar(inputs[str(j)]["signing_shares"][str(i)])
        inbox = {
            j: DkgRound2Package(j, i, scalar(data["signing_shares"][str(j)])) for j in identifiers if j != i
        }
        key_package, public = dkg_part3(state, others, inbox)
        assert key_package.signing_share == scalar(data["signing_share"])
        assert key_package.verifying_share.hex() == data["verifying_share"]
        assert key_package.group_public_key.hex() == inputs["verifying_key"]
        assert key_package.min_signers == vector["config"]["MIN_PARTICIPANTS"]
        assert {j: v.hex() for j, v in public.verifying_shares.items()} == {
            j: inputs[str(j)]["verifying_share"] for j in identifiers
        }
    # The group secret, which no participant ever held, is the sum of the constant terms.
    group_secret = sum(scalar(inputs[str(i)]["signing_key"]) for i in identifiers) % L
    assert base_mult(group_secret).hex() == inputs["verifying_key"]
