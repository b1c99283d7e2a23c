"""Duration strings of the scenario format ("250ms", "24h", "1h40m") as seconds."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in `text`; ValueError (with what is accepted) when it is not a duration."""
    pos = 0
    total = 0.0
    stripped = text.strip()
    while pos < len(stripped):
        match = _PART.match(stripped, pos)
        if match is None:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not stripped or pos != len(stripped):
        raise ValueError(
            f"expected a duration such as '250ms', '30s', '15m', '24h', '1d' or '1h30m', got {text!r}"
        )
    return total
