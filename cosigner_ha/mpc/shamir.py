"""Shamir sharing over the scalar field and Feldman commitments to it (RFC 9591 section 4.2, Appendix C).

A share of a secret s is f(i) for a random polynomial f of degree t-1 with f(0) = s. Publishing
C_k = a_k·B for every coefficient lets each holder check its share against everyone's view of f
(`vss_verify`), and lets anyone compute a holder's verifying share f(i)·B (`vss_evaluate`) without
learning f(i). Every key operation of this package (dealer, DKG, refresh, resharing) is built on these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import _codec as codec
from .ed25519 import IDENTITY, L, base_mult, mult, random_scalar, scalar_to_bytes, sum_elements
from .errors import DuplicateIdentifierError, InvalidSecretShareError
from .rng import Rng


def check_identifiers(identifiers: Iterable[object], *, field: str) -> tuple[int, ...]:
    """Valid, pairwise distinct identifiers, sorted ascending (the order RFC 9591 encodes them in)."""
    seen: set[int] = set()
    for value in identifiers:
        identifier = codec.check_identifier(value, field=field)
        if identifier in seen:
            raise DuplicateIdentifierError(f"identifier {identifier} appears more than once", field=field)
        seen.add(identifier)
    return tuple(sorted(seen))


def random_polynomial(constant: int, degree: int, rng: Rng) -> list[int]:
    """[constant, a_1, ..., a_degree] with random nonzero a_k."""
    return [constant] + [random_scalar(rng) for _ in range(degree)]


def evaluate_polynomial(coefficients: Sequence[int], x: int, modulus: int = L) -> int:
    """f(x) mod the group order by Horner's rule (RFC 9591 `polynomial_evaluate`)."""
    value = 0
    for coefficient in reversed(coefficients):
        value = (value * x + coefficient) % modulus
    return value


@lru_cache(maxsize=4096)
def lagrange_coefficient(identifier: int, identifiers: tuple[int, ...], modulus: int = L) -> int:
    """λ_i at 0 for the signer set `identifiers` (RFC 9591 `derive_interpolating_value`).

    Cached: a deployment signs with the same few signer sets over and over, and the inversion is the only
    costly part."""
    numerator = 1
    denominator = 1
    for other in identifiers:
        if other == identifier:
            continue
        numerator = numerator * other % modulus
        denominator = denominator * (other - identifier) % modulus
    return numerator * pow(denominator, -1, modulus) % modulus


def vss_commit(coefficients: Sequence[int]) -> tuple[bytes, ...]:
    """Feldman commitment: (a_0·B, ..., a_{t-1}·B)."""
    return tuple(base_mult(a) for a in coefficients)


def vss_evaluate(commitment: Sequence[bytes], x: int) -> bytes:
    """Σ_k x^k·C_k = f(x)·B. Identity entries (the constant of a zero sharing) contribute nothing."""
    terms = []
    power = 1
    for k, element in enumerate(commitment):
        if k:
            power = power * x % L
        if element != IDENTITY:
            terms.append(mult(power, element) if k else element)
    return sum_elements(terms)


def vss_verify(share: int, x: int, commitment: Sequence[bytes], *, sender: int | None, what: str) -> None:
    """Check share·B = Σ x^k·C_k, naming the sender (the culprit) when it does not hold."""
    if base_mult(share) != vss_evaluate(commitment, x):
        source = f"from participant {sender} " if sender is not None else ""
        raise InvalidSecretShareError(
            f"the {what} {source}for participant {x} does not match the sender's Feldman commitment",
            participant=sender,
            field=what,
        )


@dataclass(frozen=True)
class DealtShare:
    """Sent privately from `sender` to `receiver`: the sender's polynomial evaluated at the receiver.

    The one private message of every dealing here: DKG round 2 (`DkgRound2Package` is this type), refresh
    and resharing. It travels over a confidential, authenticated channel."""

    sender: int
    receiver: int
    value: int = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"sender": self.sender, "receiver": self.receiver, "value": scalar_to_bytes(self.value)}

    @classmethod
    def from_dict(cls, data: object) -> DealtShare:
        name = "DealtShare"
        d = codec.expect_dict(data, name, ("sender", "receiver", "value"))
        sender = codec.check_identifier(codec.get_int(d, "sender", name), field=f"{name}.sender")
        receiver = codec.check_identifier(codec.get_int(d, "receiver", name), field=f"{name}.receiver")
        return cls(sender, receiver, codec.get_scalar(d, "value", name, participant=sender))
