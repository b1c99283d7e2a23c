"""Durations ("250ms", "30s", "1h40m") and rates ("2/min") as written in scenario files.

Parsing sums the parts exactly in decimal and rounds once to a float, so "0.1s" and "100ms" are the same
float, and `format_duration` always writes a string that parses back to the very same float.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import re

#: Units in the order a compound must use them, largest first, with their length in seconds.
DURATION_UNITS: dict[str, decimal.Decimal] = {
    "d": decimal.Decimal(86_400),
    "h": decimal.Decimal(3_600),
    "m": decimal.Decimal(60),
    "s": decimal.Decimal(1),
    "ms": decimal.Decimal("0.001"),
}
RATE_UNITS: dict[str, decimal.Decimal] = {
    "s": decimal.Decimal(1),
    "min": decimal.Decimal(60),
    "h": decimal.Decimal(3_600),
    "d": decimal.Decimal(86_400),
}

DURATION_EXAMPLES = '"250ms", "30s", "15m", "2h", "1d" or "1h40m"'
RATE_EXAMPLES = '"2/min", "1/s", "30/h" or "100/d"'

_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d)")
_DURATION = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h|d))+")
_RATE = re.compile(rf"({_NUMBER})/(s|min|h|d)")
_ORDER = list(DURATION_UNITS)
# Enough digits that summing any parts that fit a float is exact before the one rounding to float.
_CONTEXT = decimal.Context(prec=80)


class DurationError(ValueError):
    """A duration or rate string that is not in the scenario format; the text says what was expected."""


def parse_duration(text: str, *, signed: bool = False) -> float:
    """Seconds in `text`; a leading "-" or "+" only when `signed` (clock skews)."""
    if not isinstance(text, str):
        raise DurationError(f"expected a duration string such as {DURATION_EXAMPLES}, got {text!r}")
    body, sign = text, 1
    if signed and body[:1] in ("-", "+"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not _DURATION.fullmatch(body):
        hint = ' with an optional leading "-"' if signed else ""
        raise DurationError(f"expected a duration such as {DURATION_EXAMPLES}{hint}, got {text!r}")
    total = decimal.Decimal(0)
    last = -1
    for match in _PART.finditer(body):
        unit = match.group(2)
        rank = _ORDER.index(unit)
        if rank <= last:
            raise DurationError(
                f"expected the units of {text!r} largest first, each at most once (d, h, m, s, ms)"
            )
        last = rank
        total = _CONTEXT.add(total, _CONTEXT.multiply(decimal.Decimal(match.group(1)), DURATION_UNITS[unit]))
    seconds = float(total)
    if not math.isfinite(seconds):
        raise DurationError(f"expected a duration that fits a float, got {text!r}")
    return sign * seconds if seconds else 0.0


def format_duration(seconds: float, *, signed: bool = False) -> str:
    """The shortest unit form of `seconds` that parses back to the same float.

    Whole milliseconds are written as a compound ("1h40m", "250ms"); anything finer as decimal seconds.
    """
    if not math.isfinite(seconds):
        raise DurationError(f"a duration must be finite, got {seconds!r}")
    if seconds < 0 and not signed:
        raise DurationError(f"a duration must not be negative, got {seconds!r}")
    prefix = "-" if seconds < 0 else ""
    magnitude = decimal.Decimal(repr(abs(seconds)))  # the shortest decimal that reads back as this float
    millis = _CONTEXT.multiply(magnitude, decimal.Decimal(1000))
    if millis == millis.to_integral_value():
        rest = int(millis)
        parts = []
        for unit, length in DURATION_UNITS.items():
            size = int(_CONTEXT.multiply(length, decimal.Decimal(1000)))
            count, rest = divmod(rest, size)
            if count:
                parts.append(f"{count}{unit}")
        text = prefix + ("".join(parts) or "0s")
        if parse_duration(text, signed=True) == seconds:
            return text
    return f"{prefix}{format(magnitude, 'f')}s"


@dataclasses.dataclass(frozen=True, slots=True)
class Rate:
    """Arrivals per unit of time, kept as written ("2/min") so that a dumped file reads the same."""

    count: float
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in RATE_UNITS:
            raise DurationError(f"expected a rate unit among {', '.join(RATE_UNITS)}, got {self.unit!r}")
        if not (math.isfinite(self.count) and self.count > 0):
            raise DurationError(f"a rate must be a positive finite number, got {self.count!r}")

    @property
    def per_second(self) -> float:
        return float(_CONTEXT.divide(decimal.Decimal(repr(self.count)), RATE_UNITS[self.unit]))

    @property
    def mean_interval(self) -> float:
        """Mean seconds between arrivals (the Poisson process's mean gap)."""
        return float(_CONTEXT.divide(RATE_UNITS[self.unit], decimal.Decimal(repr(self.count))))

    def __str__(self) -> str:
        return format_rate(self)


def parse_rate(text: str) -> Rate:
    if not isinstance(text, str) or not (match := _RATE.fullmatch(text)):
        raise DurationError(f"expected a rate such as {RATE_EXAMPLES}, got {text!r}")
    count = float(decimal.Decimal(match.group(1)))
    if not (math.isfinite(count) and count > 0):
        raise DurationError(f"expected a positive rate that fits a float, got {text!r}")
    return Rate(count, match.group(2))


def format_rate(rate: Rate) -> str:
    count = decimal.Decimal(repr(rate.count))
    written = str(int(count)) if count == count.to_integral_value() else format(count, "f")
    return f"{written}/{rate.unit}"
