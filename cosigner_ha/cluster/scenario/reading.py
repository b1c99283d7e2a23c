"""Reading TOML tables into typed values while collecting every problem, not stopping at the first.

A `Table` hands out values key by key through converters; a converter raises `Invalid` with what it
expected, and the table records the problem under the key's path and returns None. When a table is
finished, the keys nobody asked for are reported as unknown, with a "did you mean" from difflib.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import enum
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from cosigner_ha.cluster.scenario.durations import (
    DURATION_EXAMPLES,
    DurationError,
    Rate,
    parse_duration,
    parse_rate,
)
from cosigner_ha.cluster.scenario.errors import Problem

T = TypeVar("T")
E = TypeVar("E", bound=enum.StrEnum)


class Invalid(Exception):
    """Raised by a converter: `expected` completes "expected ..."; the value is described after it."""

    def __init__(
        self, expected: str, *, show_value: bool = True, suffix: str = "", value: Any = None
    ) -> None:
        super().__init__(expected)
        self.expected = expected
        self.show_value = show_value
        self.suffix = suffix  # e.g. "[2]": the item of an array that was wrong
        self.value = value  # the offending item, when it is not the whole value


def describe(value: Any) -> str:
    """A value as TOML calls it, so that messages speak the file's language."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime.date | datetime.time):
        return f"the date-time {value.isoformat()}"
    return f"a {type(value).__name__}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_of(what: str, choices: Sequence[str], limit: int = 12) -> str:
    """ "one of the node names: a, b, c" - long lists are cut, the count kept."""
    if not choices:
        return f"one of the {what}, but there are none"
    shown = ", ".join(choices[:limit])
    more = f", ... ({len(choices)} in all)" if len(choices) > limit else ""
    return f"one of the {what}: {shown}{more}"


class Problems:
    """Everything found wrong so far, in the order found."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.items: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(Problem(self.origin, path, message))

    def __len__(self) -> int:
        return len(self.items)


@dataclasses.dataclass(frozen=True, slots=True)
class Conv(Generic[T]):
    """A converter from a TOML value: `expected` is what a missing key's message asks for."""

    expected: str
    parse: Callable[[Any], T]

    def __call__(self, value: Any) -> T:
        return self.parse(value)


_MISSING: Any = object()


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Table:
    """One TOML table being read; remembers the keys read so that `finish` can report the rest."""

    def __init__(self, problems: Problems, data: Mapping[str, Any], path: str) -> None:
        self.problems = problems
        self.data = data
        self.path = path
        self._known: dict[str, None] = {}

    def at(self, key: str) -> str:
        return join(self.path, key)

    def error(self, key: str, message: str) -> None:
        self.problems.add(self.at(key) if key else self.path, message)

    def has(self, key: str) -> bool:
        self._known.setdefault(key, None)
        return key in self.data

    def get(self, key: str, conv: Conv[T], default: T | None = _MISSING) -> T | None:
        """The converted value, `default` when absent, or None (with a problem recorded) when bad."""
        self._known.setdefault(key, None)
        if key not in self.data:
            if default is _MISSING:
                self.error(key, f"required key is missing; expected {conv.expected}")
                return None
            return default
        return self.convert(key, self.data[key], conv)

    def require(self, key: str, conv: Conv[T]) -> T | None:
        return self.get(key, conv)

    def convert(self, key: str, value: Any, conv: Conv[T]) -> T | None:
        try:
            return conv(value)
        except Invalid as bad:
            shown = value if not bad.suffix else bad.value
            got = f", got {describe(shown)}" if bad.show_value else ""
            self.error(key + bad.suffix, f"expected {bad.expected}{got}")
            return None

    def table(self, key: str, *, required: bool = False) -> Table | None:
        """A sub-table; None when absent (reported if required) or not a table (reported)."""
        self._known.setdefault(key, None)
        if key not in self.data:
            if required:
                self.error(key, f"required table [{self.at(key)}] is missing")
            return None
        value = self.data[key]
        if not isinstance(value, Mapping):
            self.error(key, f"expected a table, got {describe(value)}")
            return None
        return Table(self.problems, value, self.at(key))

    def tables(self, key: str, *, what: str = "an array of tables") -> list[Table]:
        """The items of an array of tables ([[key]]); a non-table item is reported and skipped."""
        self._known.setdefault(key, None)
        if key not in self.data:
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.error(key, f"expected {what}, got {describe(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                out.append(Table(self.problems, item, join(self.at(key), i)))
            else:
                self.problems.add(join(self.at(key), i), f"expected a table, got {describe(item)}")
        return out

    def finish(self, allowed: Iterable[str] | None = None, *, context: str = "") -> None:
        """Report every key not read (or not in `allowed`), with the closest known key."""
        known = list(self._known) if allowed is None else list(allowed)
        for key in self.data:
            if key in known:
                continue
            where = (
                context or (self.path if self.path.endswith("]") else f"[{self.path}]")
                if self.path
                else "the top level"
            )
            self.error(
                key, f"unknown key {key!r} in {where}{did_you_mean(key, known)}; expected {', '.join(known)}"
            )


# -- converters ----------------------------------------------------------------------------------------


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("a string")
    return value


STRING: Conv[str] = Conv("a string", _string)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("a name (a string)")
    if not value or value != value.strip() or _CONTROL.search(value):
        raise Invalid("a non-empty name without leading or trailing spaces or control characters")
    return value


NAME: Conv[str] = Conv("a name (a string)", _name)

IDENT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _ident(value: Any) -> str:
    if not isinstance(value, str) or not IDENT_PATTERN.fullmatch(value):
        raise Invalid("a name of letters, digits, '.', '_' and '-', starting with a letter or digit")
    return value


IDENT: Conv[str] = Conv("a name of letters, digits, '.', '_' and '-'", _ident)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("true or false")
    return value


BOOL: Conv[bool] = Conv("true or false", _boolean)


def integer(lo: int | None = None, hi: int | None = None) -> Conv[int]:
    bounds = _bounds(lo, hi)

    def parse(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(f"an integer{bounds}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise Invalid(f"an integer{bounds}")
        return value

    return Conv(f"an integer{bounds}", parse)


def number(lo: float | None = None, hi: float | None = None, *, above: float | None = None) -> Conv[float]:
    """A finite int or float, returned as float; `above` is an exclusive lower bound."""
    bounds = f" greater than {above:g}" if above is not None else ""
    bounds += _bounds(lo, hi) if not bounds or hi is not None else ""
    if above is not None and hi is not None:
        bounds = f" greater than {above:g} and at most {hi:g}"

    def parse(value: Any) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Invalid(f"a number{bounds}")
        result = float(value)
        if not math.isfinite(result):
            raise Invalid(f"a finite number{bounds}")
        if (lo is not None and result < lo) or (hi is not None and result > hi):
            raise Invalid(f"a number{bounds}")
        if above is not None and result <= above:
            raise Invalid(f"a number{bounds}")
        return result

    return Conv(f"a number{bounds}", parse)


def _bounds(lo: float | None, hi: float | None) -> str:
    def show(x: float) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    if lo is not None and hi is not None:
        return f" from {show(lo)} to {show(hi)}"
    if lo is not None:
        return f" of at least {show(lo)}"
    if hi is not None:
        return f" of at most {show(hi)}"
    return ""


def _duration_conv(*, signed: bool, positive: bool) -> Conv[float]:
    expected = f"a duration string such as {DURATION_EXAMPLES}"
    if signed:
        expected = 'a signed duration string such as "-5m" or "90s"'

    def parse(value: Any) -> float:
        if not isinstance(value, str):
            raise Invalid(expected)
        try:
            seconds = parse_duration(value, signed=signed)
        except DurationError as bad:
            raise Invalid(str(bad).removeprefix("expected "), show_value=False) from None
        if positive and seconds <= 0:
            raise Invalid("a duration longer than zero")
        return seconds

    return Conv(expected, parse)


DURATION = _duration_conv(signed=False, positive=False)
POSITIVE_DURATION = _duration_conv(signed=False, positive=True)
SIGNED_DURATION = _duration_conv(signed=True, positive=False)


def _rate(value: Any) -> Rate:
    if not isinstance(value, str):
        raise Invalid('a rate string such as "2/min"')
    try:
        return parse_rate(value)
    except DurationError as bad:
        raise Invalid(str(bad).removeprefix("expected "), show_value=False) from None


RATE: Conv[Rate] = Conv('a rate string such as "2/min", "1/s" or "30/h"', _rate)


def choice(kind: type[E], what: str = "") -> Conv[E]:
    values = [member.value for member in kind]
    expected = f"one of {', '.join(values)}" if not what else one_of(what, values)

    def parse(value: Any) -> E:
        if not isinstance(value, str):
            raise Invalid(expected)
        if value not in values:
            raise Invalid(f"{expected}; got {value!r}{did_you_mean(value, values)}", show_value=False)
        return kind(value)

    return Conv(expected, parse)


def strings_in(choices: Sequence[str], expected: str) -> Conv[str]:
    """A string naming one of `choices` (a node, a user, ...); the message lists them."""

    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(expected)
        if value not in choices:
            raise Invalid(f"{expected}; got {value!r}{did_you_mean(value, choices)}", show_value=False)
        return value

    return Conv(expected, parse)


def array(item: Conv[T], *, unique: bool = True, nonempty: bool = False) -> Conv[tuple[T, ...]]:
    """An array whose items all convert; item problems name the index (path[i])."""
    # "an array, each item X": the item's own description stays intact (pluralising it mangled lists of
    # choices such as "one of the node names: nitro-a, nitro-b" into "... nitro-bs")
    expected = f"{'a non-empty array' if nonempty else 'an array'}, each item {item.expected}"

    def parse(value: Any) -> tuple[T, ...]:
        if not isinstance(value, list | tuple):
            raise Invalid(expected)
        if nonempty and not value:
            raise Invalid(expected)
        out = []
        for i, element in enumerate(value):
            try:
                out.append(item(element))
            except Invalid as bad:
                raise Invalid(
                    bad.expected, show_value=bad.show_value, suffix=f"[{i}]{bad.suffix}", value=element
                ) from None
            if unique and element in value[:i]:
                raise Invalid(
                    f"each item at most once; {element!r} is already item {value.index(element)}",
                    show_value=False,
                    suffix=f"[{i}]",
                )
        return tuple(out)

    return Conv(expected, parse)
