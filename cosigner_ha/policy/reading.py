"""Typed field access for the loaders: every failure names the origin, the rule index and the field."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NoReturn

from ..inputs import shorten
from .directory import Directory
from .errors import PolicyError
from .money import to_decimal


def describe(value: object) -> str:
    """A value as a message quotes it: short, and in the words of the file (JSON null, not NoneType)."""
    if isinstance(value, str):
        return shorten(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float | Decimal):
        return shorten(value)
    return f"{type(value).__name__} {shorten(value)}"


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or nothing (the scenario loader says it the same way)."""
    close = difflib.get_close_matches(word, [c for c in choices if isinstance(c, str)], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class RuleReader:
    """Reads one rule (or document) of one origin; resolves user and group references by the directory."""

    def __init__(self, origin: str, index: int | None, directory: Directory) -> None:
        self.origin = origin
        self.index = index
        self.directory = directory

    def fail(self, field: str | None, problem: str) -> NoReturn:
        raise PolicyError(problem, origin=self.origin, rule_index=self.index, field=field)

    def table(self, value: object, field: str, keys: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(
                field, f"expected a table/object with keys among {', '.join(keys)}, got {describe(value)}"
            )
        for key in value:
            if key not in keys:
                self.fail(
                    f"{field}.{key}" if field else str(key),
                    f"unknown key{did_you_mean(str(key), keys)}; expected one of {', '.join(keys)}",
                )
        return value

    def string(self, value: object, field: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(field, f"expected a non-empty string, got {describe(value)}")
        return value

    def strings(self, value: object, field: str) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            self.fail(field, f"expected a list of strings, got {describe(value)}")
        return tuple(self.string(item, f"{field}[{i}]") for i, item in enumerate(value))

    def choice(self, value: object, field: str, choices: Sequence[str]) -> str:
        if not isinstance(value, str) or value not in choices:
            hint = did_you_mean(value, choices) if isinstance(value, str) else ""
            self.fail(field, f"expected one of {', '.join(choices)}, got {describe(value)}{hint}")
        return value

    def boolean(self, value: object, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"expected true or false, got {describe(value)}")
        return value

    def integer(self, value: object, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"expected a whole number, got {describe(value)}")
        return value

    def number(self, value: object, field: str, *, allow_negative: bool = False) -> Decimal:
        try:
            result = to_decimal(value)
        except ValueError as exc:
            self.fail(field, f"{exc} (a number, or a numeric string)")
        if result < 0 and not allow_negative:
            self.fail(field, f"expected a number >= 0, got {describe(value)}")
        return result

    def refuse(self, field: str, construct: str, why: str) -> NoReturn:
        """A construct of the source format that the engine cannot honour: refused by name, never misread."""
        self.fail(field, f"{construct} is not supported by this simulator: {why}")

    def user(self, ref: str) -> str:
        """The user's name when the directory knows the id or name; else the reference as given."""
        return self.directory.resolve_user(ref) or ref

    def group(self, ref: str) -> str:
        return self.directory.resolve_group(ref) or ref
