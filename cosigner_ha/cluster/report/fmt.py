"""Numbers as people read them in a report: durations, clock times on the run's timeline, speed-ups."""

from __future__ import annotations

import math

NONE = "—"


def seconds(value: float | None) -> str:
    """A duration: "850 ms", "1.25 s", "12.3 s", "2m05s", "1h40m", "6h", "1d2h"; "—" for None."""
    if value is None:
        return NONE
    if not math.isfinite(value):
        return str(value)
    if value < 0:
        return "-" + seconds(-value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 10:
        return f"{value:.2f} s"
    if value < 59.95:
        return f"{value:.1f} s"
    total = round(value)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{minutes}m{secs:02d}s"


def clock(t: float) -> str:
    """A time on the run's timeline, "H:MM:SS" (with milliseconds when it has any)."""
    millis = round(t * 1000)
    whole, ms = divmod(millis, 1000)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{text}.{ms:03d}" if ms else text


def speedup(value: float | None) -> str:
    """Simulated over wall time: "11,739×", "3.2×"; "—" when unknown."""
    if value is None or not math.isfinite(value):
        return NONE
    return f"{value:,.0f}×" if value >= 10 else f"{value:.1f}×"


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else NONE
