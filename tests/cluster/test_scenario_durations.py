"""Durations and rates as scenario files write them."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cosigner_ha.cluster.scenario import (
    DurationError,
    Rate,
    format_duration,
    format_rate,
    parse_duration,
    parse_rate,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h40m", 6000.0),
        ("1d2h3m4s5ms", 86400 + 7200 + 180 + 4 + 0.005),
        ("1.5h", 5400.0),
        ("0.1s", 0.1),
        ("100ms", 0.1),
        ("0s", 0.0),
        ("90s", 90.0),  # a unit's amount may exceed the next unit up
    ],
)
def test_parses_units_and_compounds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "30",
        "30 s",
        " 30s",
        "30sec",
        "1m1h",
        "1h1h",
        "-5m",
        "5",
        "1.s",
        ".5s",
        "1e3s",
        "inf",
        "nan",
        "30S",
        "1h 40m",
        "ms",
    ],
)
def test_malformed_durations_raise(text: str) -> None:
    with pytest.raises(DurationError, match="expected"):
        parse_duration(text)


def test_signed_durations_only_where_asked() -> None:
    assert parse_duration("-5m", signed=True) == -300.0
    assert parse_duration("+90s", signed=True) == 90.0
    assert format_duration(-300.0, signed=True) == "-5m"
    with pytest.raises(DurationError):
        format_duration(-1.0)
    with pytest.raises(DurationError):
        parse_duration("--5m", signed=True)


def test_a_duration_too_long_for_a_float_is_refused() -> None:
    with pytest.raises(DurationError, match="fits a float"):
        parse_duration("1" + "0" * 400 + "d")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(6000.0, "1h40m"), (0.25, "250ms"), (0.0, "0s"), (86400.0, "1d"), (90.0, "1m30s"), (1e-7, "0.0000001s")],
)
def test_formats_the_short_unit_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False))
@example(0.1 + 0.2)
@example(1e300)
@example(5e-324)
def test_formatting_then_parsing_round_trips_any_float(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10**15))
def test_whole_milliseconds_format_as_compounds(millis: int) -> None:
    text = format_duration(millis / 1000)
    assert "." not in text
    assert parse_duration(text) == millis / 1000


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_signed_round_trip(seconds: float) -> None:
    assert parse_duration(format_duration(seconds, signed=True), signed=True) == seconds


@given(st.text(max_size=12))
def test_any_text_parses_to_a_finite_duration_or_raises_duration_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DurationError:
        return
    assert math.isfinite(seconds) and seconds >= 0
    assert parse_duration(format_duration(seconds)) == seconds


def test_non_finite_durations_cannot_be_formatted() -> None:
    for value in (math.inf, math.nan):
        with pytest.raises(DurationError):
            format_duration(value)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("2/min", 2 / 60), ("1/s", 1.0), ("30/h", 30 / 3600), ("100/d", 100 / 86400), ("0.5/s", 0.5)],
)
def test_rates(text: str, per_second: float) -> None:
    rate = parse_rate(text)
    assert rate.per_second == pytest.approx(per_second, rel=1e-15)
    assert format_rate(rate) == text
    assert rate.mean_interval == pytest.approx(1 / per_second, rel=1e-15)


@pytest.mark.parametrize("text", ["2/m", "2 / min", "0/s", "/s", "2", "2/", "-1/s", "2/min/s", "2/sec"])
def test_malformed_rates_raise(text: str) -> None:
    with pytest.raises(DurationError, match=r"expected a (positive )?rate"):
        parse_rate(text)


@given(
    st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.sampled_from(["s", "min", "h", "d"]),
)
def test_rate_round_trip(count: float, unit: str) -> None:
    rate = Rate(count, unit)
    assert parse_rate(format_rate(rate)) == rate


def test_rate_rejects_a_bad_unit_or_count() -> None:
    with pytest.raises(DurationError):
        Rate(1.0, "week")
    with pytest.raises(DurationError):
        Rate(0.0, "s")
