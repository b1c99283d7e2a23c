"""Reading the files a person hands a command, and checking where its outputs will go, before any work.

Every command reads its inputs (scenarios, policies, `--tx @FILE`, `--history`) through `read_input_text`
and parses TOML and JSON through `parse_toml` / `parse_json`, and checks its output paths with
`check_outputs`: one set of limits and one wording, so that a hostile or mistaken input is a clear
`InputFileError` (what and where) and never a traceback, an endless read, or a destroyed file.
The limits are documented in docs/scenarios.md ("Limits on inputs and outputs").
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

#: The largest input file read (bytes); larger ones are refused before being read.
MAX_INPUT_BYTES = 8 * 1024 * 1024
#: Arrays and tables (objects) nested deeper than this are refused.
MAX_NESTING = 64
#: Python's limit on the digits of an integer read from text (refused, not raised from deep in a parser).
MAX_INTEGER_DIGITS = sys.get_int_max_str_digits() or 4300
#: Values quoted in messages are cut to this many characters.
SHOWN_CHARS = 60
BOM = "\ufeff"


class InputFileError(ValueError):
    """An input or output path that cannot be used; the message names the file (and line, column)."""

    def __init__(self, origin: str, message: str, line: int | None = None, column: int | None = None):
        self.origin = origin
        self.problem = message
        self.line = line
        self.column = column
        #: the file, and the line and column when known (`file:3:7`)
        self.where = f"{origin}:{line}:{column}" if line is not None else origin
        super().__init__(f"{self.where}: {message}")


def shorten(value: object, limit: int = SHOWN_CHARS) -> str:
    """`repr(value)` cut to `limit` characters, with how much was left out (an integer: its digit count)."""
    if isinstance(value, int) and not isinstance(value, bool):
        digits = len(str(abs(value))) if abs(value) < 10**MAX_INTEGER_DIGITS else None
        if digits is not None and digits <= limit:
            return str(value)
        return f"an integer of {digits or 'more than ' + str(MAX_INTEGER_DIGITS)} digits"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_input_text(path: str | os.PathLike[str], *, what: str = "file", limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes, a leading BOM dropped; undecodable
    bytes are reported by line and column."""
    return decode_utf8(read_input_bytes(path, what=what, limit=limit), str(path))


def read_input_bytes(
    path: str | os.PathLike[str], *, what: str = "file", limit: int = MAX_INPUT_BYTES
) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    Checked before reading: that it exists, is a regular file (never a FIFO or a device, which would block
    or never end) and is not larger than the limit."""
    origin = str(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputFileError(origin, f"cannot read the {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(origin, f"the {what} is {_kind(info.st_mode)}; expected a regular file")
    if info.st_size > limit:
        raise InputFileError(
            origin, f"the {what} is {info.st_size} bytes; the limit is {limit} bytes (docs/scenarios.md)"
        )
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, opening it does not hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise InputFileError(origin, f"the {what} is not a regular file")
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputFileError(origin, f"cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputFileError(origin, f"the {what} is larger than the limit of {limit} bytes")
    return data


def decode_utf8(data: bytes, origin: str) -> str:
    """UTF-8 text with a leading BOM dropped; invalid bytes reported by line and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputFileError(
            origin, f"expected UTF-8 text; byte 0x{data[exc.start]:02x} is not UTF-8", line, column
        ) from None
    return text.removeprefix(BOM)


def check_nesting(value: Any, origin: str, limit: int = MAX_NESTING) -> None:
    """Refuse arrays/tables nested deeper than `limit` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                raise InputFileError(origin, f"arrays or tables are nested more than {limit} deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def _parse(parse: Callable[[], Any], origin: str, syntax: str) -> Any:
    try:
        data = parse()
    except RecursionError:
        raise InputFileError(
            origin, f"invalid {syntax}: arrays or tables are nested more than {MAX_NESTING} deep"
        ) from None
    except ValueError as exc:
        if "integer string conversion" not in str(exc) and "int_max_str_digits" not in str(exc):
            raise
        raise InputFileError(
            origin, f"invalid {syntax}: an integer has more than {MAX_INTEGER_DIGITS} digits"
        ) from None
    check_nesting(data, origin)
    return data


def parse_toml(text: str, origin: str) -> dict[str, Any]:
    """`tomllib.loads` with the nesting and integer limits; TOMLDecodeError passes through for the
    caller's positioned message."""
    result: dict[str, Any] = _parse(lambda: tomllib.loads(text.removeprefix(BOM)), origin, "TOML")
    return result


def parse_json(text: str | bytes, origin: str, **kwargs: Any) -> Any:
    """`json.loads` with the nesting and integer limits; JSONDecodeError passes through."""
    if isinstance(text, str):
        text = text.removeprefix(BOM)
    return _parse(lambda: json.loads(text, **kwargs), origin, "JSON")


def check_outputs(outputs: Sequence[tuple[str, Path]], inputs: Iterable[Path] = ()) -> None:
    """Refuse, before any work, output paths that would destroy something or cannot be written: an input
    file, a folder, a device, a FIFO or a socket (or a symlink to one), a folder that does not exist or
    cannot be written, a file that cannot be replaced, two outputs on one path. `outputs` pairs the
    option that named each path (`--json`) with the path."""
    seen: dict[Path, str] = {}
    sources = [(p, _resolved(p)) for p in inputs]
    for option, path in outputs:
        label = f"{option} {path}"
        resolved = _resolved(path)
        if resolved in seen:
            raise InputFileError(
                label, f"is also the path of {seen[resolved]}; give each output its own path"
            )
        seen[resolved] = option
        for source, source_resolved in sources:
            if resolved == source_resolved or _same_file(path, source):
                raise InputFileError(label, f"is the input {source}; it would be overwritten")
        try:
            info = os.stat(path)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise InputFileError(label, f"cannot use this path: {exc.strerror or exc}") from None
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise InputFileError(label, f"is {_kind(info.st_mode)}; expected a path for a regular file")
        folder = resolved.parent
        if not folder.is_dir():
            raise InputFileError(label, f"the folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputFileError(label, f"the folder {folder} cannot be written")


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return Path(os.path.abspath(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_INTEGER_DIGITS",
    "MAX_NESTING",
    "InputFileError",
    "check_nesting",
    "check_outputs",
    "decode_utf8",
    "parse_json",
    "parse_toml",
    "read_input_bytes",
    "read_input_text",
    "shorten",
]
