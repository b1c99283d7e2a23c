"""Declarative message classes and the strict checks that decoding applies to them.

A message is a frozen dataclass with a `TYPE` name and fields of a small set of types (str, int, float,
bool, bytes, lists of those or of messages, str-keyed dicts of plain values, and `X | None`). The checks
are derived once from the type hints, so adding a message is writing its class.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from cosigner_ha.wire.errors import CodecError

Checker = Callable[[Any, str], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """Base of every wire message. `TYPE` is the name on the wire."""

    TYPE: ClassVar[str] = ""


REGISTRY: dict[str, type[Message]] = {}
_CHECKERS: dict[type[Message], dict[str, Checker]] = {}
#: Per message class, in field order: (name, exact types accepted as they are, checker for the rest).
_FIELDS: dict[type[Message], tuple[tuple[str, tuple[type, ...], Checker], ...]] = {}
#: Exact types that are plain values as they are. Most values of a message are one of these, so they are
#: tested first and the field path (an f-string, only for error messages) is built only for the others.
_ATOMS = frozenset({type(None), bool, int, float, str, bytes})
M = TypeVar("M", bound=type[Message])


def message(cls: M) -> M:
    """Register a message class under its `TYPE` name."""
    if not cls.TYPE or cls.TYPE in REGISTRY:
        raise TypeError(f"{cls.__name__}: TYPE must be set and unique, got {cls.TYPE!r}")
    REGISTRY[cls.TYPE] = cls
    return cls


def _plain(value: Any, path: str) -> Any:
    """A msgpack-native value: what dict payloads (callback request bodies, config changes) may hold."""
    kind = type(value)  # exact types first: decoded values are never subclasses
    if kind in _ATOMS:
        return value
    if kind is list:
        return [v if type(v) in _ATOMS else _plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind is dict:
        return _plain_map(value, path)
    if isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, list):
        return [v if type(v) in _ATOMS else _plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return _plain_map(value, path)
    raise CodecError(f"{path}: {type(value).__name__} is not a plain value")


def _plain_map(value: dict[Any, Any], path: str) -> dict[str, Any]:
    out = {}
    for k, v in value.items():
        if type(k) is not str and not isinstance(k, str):
            raise CodecError(f"{path}: map keys must be strings, got {type(k).__name__}")
        out[k] = v if type(v) in _ATOMS else _plain(v, f"{path}.{k}")
    return out


def _scalar(kind: type) -> Checker:
    def check(value: Any, path: str) -> Any:
        # bool is an int subclass: an int field must not accept True, nor a float field an int flag.
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise CodecError(f"{path}: expected {kind.__name__}, got {type(value).__name__}")
        return value

    return check


def _checker(hint: Any) -> Checker:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint in (str, int, float, bool, bytes):
        return _scalar(hint)
    if hint is Any:
        return _plain
    if origin in (types.UnionType, typing.Union) and type(None) in args and len(args) == 2:
        inner = _checker(next(a for a in args if a is not type(None)))
        return lambda v, p: None if v is None else inner(v, p)
    if origin is list:
        item = _checker(args[0])
        exact = _exact_types(args[0])

        def check_list(value: Any, path: str) -> Any:
            if not isinstance(value, list):
                raise CodecError(f"{path}: expected a list, got {type(value).__name__}")
            return [v if type(v) in exact else item(v, f"{path}[{i}]") for i, v in enumerate(value)]

        return check_list
    if origin is dict and args[0] is str and args[1] is Any:

        def check_plain_dict(value: Any, path: str) -> Any:
            if not isinstance(value, dict):
                raise CodecError(f"{path}: expected a map, got {type(value).__name__}")
            return _plain_map(value, path)

        return check_plain_dict
    if origin is dict and args[0] is str:
        val = _checker(args[1])

        def check_dict(value: Any, path: str) -> Any:
            if not isinstance(value, dict):
                raise CodecError(f"{path}: expected a map, got {type(value).__name__}")
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise CodecError(f"{path}: map keys must be strings, got {type(k).__name__}")
                out[k] = val(v, f"{path}.{k}")
            return out

        return check_dict
    if isinstance(hint, type) and issubclass(hint, Message):
        return lambda v, p: from_plain(v, p, expected=hint)
    raise TypeError(f"unsupported wire field type {hint!r}")


def _checkers(cls: type[Message]) -> dict[str, Checker]:
    found = _CHECKERS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = {f.name: _checker(hints[f.name]) for f in dataclasses.fields(cls)}
        _CHECKERS[cls] = found
        _FIELDS[cls] = tuple((name, _exact_types(hints[name]), check) for name, check in found.items())
    return found


def _exact_types(hint: Any) -> tuple[type, ...]:
    """The exact types a field's checker would pass through unchanged: a value of one of them needs no
    check (`type(v) is int` already excludes a bool). Empty for lists, maps and messages."""
    if hint in (str, int, float, bool, bytes):
        return (hint,)
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and type(None) in args and len(args) == 2:
        inner = _exact_types(next(a for a in args if a is not type(None)))
        return (type(None), *inner) if inner else ()
    return ()


def _conv(value: Any) -> Any:
    kind = type(value)  # exact types first, then their subclasses
    plan = _PLANS.get(kind)
    if plan is not None:
        return {"type": value.TYPE, "body": plan.body(value)}
    if kind is list:
        return [v if type(v) in _ATOMS else _conv(v) for v in value]
    if isinstance(value, Message):
        return to_plain(value)
    if isinstance(value, list | tuple):
        return [v if type(v) in _ATOMS else _conv(v) for v in value]
    if isinstance(value, dict):
        return {k: v if type(v) in _ATOMS else _conv(v) for k, v in value.items()}
    return value


# --- per-message plans ------------------------------------------------------------------------------------
#
# Every frame goes through one message class's checks, thousands of times a run, so each class gets two
# small functions generated once from its fields (as `dataclasses` generates `__init__`): `build` checks a
# body whose keys are exactly the fields and whose values are of their exact types with one `type(v) is T`
# test each, and hands anything else to `_build_checked`, the generic checks that word the errors. A
# valid body gives the same message either way and an invalid one the same error (tests/wire says so);
# `body` writes a message's fields in field order, as `to_plain` always did, so the bytes do not change.


class _Plan:
    __slots__ = ("body", "build")

    def __init__(
        self, build: Callable[[dict[str, Any], str], Message], body: Callable[[Any], dict[str, Any]]
    ) -> None:
        self.build = build
        self.body = body


_PLANS: dict[type[Message], _Plan] = {}


def _plan(cls: type[Message]) -> _Plan:
    found = _PLANS.get(cls)
    if found is None:
        found = _PLANS[cls] = _compile(cls)
    return found


def _compile(cls: type[Message]) -> _Plan:
    _checkers(cls)
    fields = _FIELDS[cls]
    names = [name for name, _, _ in fields]
    ns: dict[str, Any] = {
        "cls": cls,
        "checked": lambda body, path: _build_checked(cls, body, path),
        "ATOMS": _ATOMS,
        "conv": _conv,
        "new": object.__new__,
    }
    # The message is built by setting its slots: a frozen dataclass's `__init__` goes through
    # `object.__setattr__` once per field, and every field is given here. A class whose construction
    # does more (a `__post_init__`, a field `__init__` does not take) is built by calling it.
    setters = [getattr(cls, name, None) for name in names]
    direct = (
        not hasattr(cls, "__post_init__")
        and all(f.init for f in dataclasses.fields(cls))
        and all(isinstance(s, types.MemberDescriptorType) for s in setters)
    )
    lines = [
        "def build(body, path):",
        f"    if len(body) != {len(fields)}:",
        "        return checked(body, path)",
    ]
    if names:
        lines += ["    try:"] + [f"        v{i} = body[{name!r}]" for i, name in enumerate(names)]
        lines += ["    except KeyError:", "        return checked(body, path)"]
    for i, (name, exact, check) in enumerate(fields):
        ns[f"c{i}"] = check
        fix = f"v{i} = c{i}(v{i}, path + {'.' + name!r})"
        if not exact:
            lines.append(f"    {fix}")
        elif len(exact) == 1:
            ns[f"t{i}"] = exact[0]
            lines += [f"    if type(v{i}) is not t{i}:", f"        {fix}"]
        else:  # (NoneType, T): an optional scalar
            ns[f"t{i}"] = exact[-1]
            lines += [f"    if v{i} is not None and type(v{i}) is not t{i}:", f"        {fix}"]
    if direct:
        lines.append("    m = new(cls)")
        for i, setter in enumerate(setters):
            ns[f"s{i}"] = setter.__set__  # type: ignore[union-attr]
            lines.append(f"    s{i}(m, v{i})")
        lines.append("    return m")
    else:
        args = ", ".join(f"v{i}" for i in range(len(fields)))
        lines += [f"    return construct(cls, {cls.TYPE!r}, path, ({args}{',' if len(fields) == 1 else ''}))"]
        ns["construct"] = _construct
    # Encoding: a field declared a scalar is written as it is when it holds one (`_conv` for anything else,
    # as before); lists, maps and messages always go through `_conv`.
    lines += ["def body(m):"]
    out = []
    for i, (name, exact, _) in enumerate(fields):
        lines.append(f"    v{i} = m.{name}")
        if exact:
            lines += [f"    if type(v{i}) not in ATOMS:", f"        v{i} = conv(v{i})"]
        else:  # a list as `_conv` writes one, inline
            lines += [
                f"    if type(v{i}) is list:",
                f"        v{i} = [x if type(x) in ATOMS else conv(x) for x in v{i}]",
                "    else:",
                f"        v{i} = conv(v{i})",
            ]
        out.append(f"{name!r}: v{i}")
    lines.append(f"    return {{{', '.join(out)}}}")
    # The source is generated above from the class's own field names; the file name shows in profiles.
    exec(compile("\n".join(lines), f"<wire plan {cls.__name__}>", "exec"), ns)
    return _Plan(ns["build"], ns["body"])


def _construct(cls: type[Message], name: str, path: str, args: tuple[Any, ...]) -> Message:
    try:
        return cls(*args)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{path} ({name}): {exc}") from exc


def to_plain(msg: Message) -> dict[str, Any]:
    """`{"type": ..., "body": {...}}` with nested messages turned into the same shape."""
    return {"type": msg.TYPE, "body": plain_body(msg)}


def plain_body(msg: Message) -> dict[str, Any]:
    """A message's fields as plain values, in field order."""
    cls = type(msg)
    plan = _PLANS.get(cls) or _plan(cls)
    return plan.body(msg)


def from_plain(value: Any, path: str = "message", *, expected: type[Message] | None = None) -> Message:
    """Check and build a message; any deviation is a CodecError naming the path and the field."""
    if type(value) is not dict and not isinstance(value, dict):
        raise CodecError(f"{path}: expected a map with 'type' and 'body', got {type(value).__name__}")
    if len(value) != 2 or "type" not in value or "body" not in value:
        raise CodecError(
            f"{path}: expected exactly the keys 'type' and 'body', got {sorted(map(str, value))}"
        )
    name, body = value["type"], value["body"]
    if type(name) is not str and not isinstance(name, str):
        raise CodecError(f"{path}.type: expected a string, got {type(name).__name__}")
    cls = REGISTRY.get(name)
    if cls is None:
        raise CodecError(f"{path}.type: unknown message type {name!r}")
    if expected is not None and not issubclass(cls, expected):
        raise CodecError(f"{path}.type: {name!r} is not a {expected.__name__}")
    if type(body) is not dict:
        return _build_checked(cls, body, path)
    plan = _PLANS.get(cls) or _plan(cls)
    return plan.build(body, path)


def _build_checked(cls: type[Message], body: Any, path: str) -> Message:
    """The generic checks, field by field, that say what is wrong and where."""
    name = cls.TYPE
    if not isinstance(body, dict):
        raise CodecError(f"{path}.body: expected a map, got {type(body).__name__}")
    checkers = _checkers(cls)
    if body.keys() != checkers.keys():
        missing = [k for k in checkers if k not in body]
        if missing:
            raise CodecError(f"{path} ({name}): missing field(s) {', '.join(missing)}")
        extra = [str(k) for k in body if k not in checkers]
        raise CodecError(f"{path} ({name}): unexpected field(s) {', '.join(sorted(extra))}")
    kwargs = {}
    for k, exact, check in _FIELDS[cls]:  # the field's path (an f-string) only for values that need a check
        v = body[k]
        kwargs[k] = v if type(v) in exact else check(v, f"{path}.{k}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{path} ({name}): {exc}") from exc
