"""Exact amounts: integers of 10^-18 asset units, scaled by integer price multipliers.

Floats would make a windowed total kept incrementally (add on record, subtract on expiry) drift away from
the same total summed afresh, and a threshold test on the boundary would then depend on the order of
operations. With integers both are exact, so the fast engine and the reference evaluator agree bit for bit.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Context, Decimal, InvalidOperation
from fractions import Fraction

from cosigner_ha.inputs import shorten

SCALE = 10**18  # units per whole asset (or per USD/EUR for thresholds): 18 decimals, as ETH's wei
#: Amounts, prices and thresholds are below 10^MAX_DIGITS (docs/scenarios.md, "Limits"): `1e999999999`
#: would overflow Decimal's context deep in the engine instead of being refused here, with its field.
MAX_DIGITS = 60
_WIDE = Context(prec=200)


def to_decimal(value: object) -> Decimal:
    """A finite Decimal from an int, float, Decimal or numeric string; ValueError saying what was expected."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        value = repr(value)  # shortest form: 0.1 stays 0.1 rather than its binary expansion
    if isinstance(value, int | str | Decimal):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"expected a number, got {shorten(value)}") from None
        if not result.is_finite():
            raise ValueError(f"expected a finite number, got {shorten(value)}")
        if result and result.adjusted() >= MAX_DIGITS:
            raise ValueError(f"expected a number below 10^{MAX_DIGITS}, got {shorten(value)}")
        return result
    raise ValueError(f"expected a number, got {type(value).__name__} {shorten(value)}")


def to_units(value: Decimal) -> int:
    """Whole 10^-18 units (rounded down: finer amounts are dust the simulator does not track)."""
    return int(_WIDE.multiply(value, SCALE).to_integral_value(rounding=ROUND_FLOOR))


def price_table(prices: dict[str, Fraction]) -> tuple[int, dict[str, int]]:
    """(denominator D, asset -> multiplier) so that value * D == units * multiplier, exactly."""
    denominator = 1
    for price in prices.values():
        denominator = math.lcm(denominator, price.denominator)
    return denominator, {
        asset: price.numerator * (denominator // price.denominator) for asset, price in prices.items()
    }
