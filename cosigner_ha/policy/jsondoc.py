"""Strict JSON: a document with a key twice is refused, naming the key and where, never "last one wins".

A policy export, a `--tx` object or a `--history` line with a duplicated key is ambiguous (which
`action`? which `amount`?); Python's `json` silently keeps the last value, so the pairs are kept and
checked here, with the key path of the object that repeats them.
"""

from __future__ import annotations

import json
from typing import Any

from .. import inputs
from .errors import PolicyError


class _Pairs(list[tuple[str, Any]]):
    """An object as parsed, its pairs in order (duplicates included) until `_build` checks them."""


def _build(value: Any, path: str, origin: str) -> Any:
    if isinstance(value, _Pairs):
        out: dict[str, Any] = {}
        for key, item in value:
            where = f"{path}.{key}" if path else key
            if key in out:
                raise PolicyError(
                    f"duplicate key {key!r} in the object at {path or 'the top'}; "
                    "expected each key once (JSON readers disagree on which value wins)",
                    origin=origin,
                    field=where,
                )
            out[key] = _build(item, where, origin)
        return out
    if isinstance(value, list):
        return [_build(item, f"{path}[{i}]", origin) for i, item in enumerate(value)]
    return value


def loads_strict(text: str | bytes, origin: str, *, expected: str = "", one_line: bool = False) -> Any:
    """Parse JSON; PolicyError naming `origin` for a syntax error (line, column) or a duplicate key."""
    try:
        raw = json.loads(text, object_pairs_hook=_Pairs)
    except RecursionError:
        raise PolicyError(inputs.too_deep(origin).message, origin=origin) from None
    except json.JSONDecodeError as exc:
        hint = f"; expected {expected}" if expected else ""
        where = f"column {exc.colno}" if one_line else f"line {exc.lineno} column {exc.colno}"
        raise PolicyError(f"invalid JSON at {where}: {exc.msg}{hint}", origin=origin) from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"expected UTF-8 JSON, not UTF-8 at byte {exc.start}", origin=origin) from None
    except ValueError as exc:  # an integer longer than Python converts (4300 digits)
        raise PolicyError(f"a number is too long: {exc}".split("; use sys.")[0], origin=origin) from None
    try:
        inputs.check_nesting(raw, origin)
    except inputs.InputFileError as exc:
        raise PolicyError(exc.message, origin=origin) from None
    return _build(raw, "", origin)
