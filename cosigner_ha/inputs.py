"""Reading the files a person hands a command, so that a hostile or mistaken one is an error, not a crash.

Every command reads its inputs (scenarios, policies, `--tx @FILE`, `--history`) through here: a regular
file only (a folder, a FIFO or a device such as /dev/zero is refused before anything is read, so nothing
blocks), at most `MAX_INPUT_BYTES`, UTF-8 (a byte-order mark is accepted and dropped), and, once parsed, at
most `MAX_NESTING` levels of arrays and tables. The limits are documented in docs/scenarios.md.

It imports nothing of ours, so that every part, the policy engine included, can use it.
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from typing import Any

#: The largest input file read (16 MiB): far above any real scenario or policy export.
MAX_INPUT_BYTES = 16 * 1024 * 1024
#: The deepest nesting of arrays and tables accepted in a TOML or JSON input.
MAX_NESTING = 64
_BOM = b"\xef\xbb\xbf"


class InputFileError(ValueError):
    """An input that cannot be read as text: what was wrong, and where (`origin`, line, column)."""

    def __init__(self, origin: str, message: str, line: int | None = None, column: int | None = None) -> None:
        self.origin, self.message, self.line, self.column = origin, message, line, column
        where = origin + (f":{line}:{column}" if line is not None and column is not None else "")
        super().__init__(f"{where}: {message}")

    @property
    def detail(self) -> str:
        """The message with its line and column, for errors that name the file themselves."""
        return self.message + (f" (line {self.line}, column {self.column})" if self.line is not None else "")


#: Values quoted in messages are cut to this many characters.
SHOWN_CHARS = 60


def shorten(value: object, limit: int = SHOWN_CHARS) -> str:
    """`repr(value)` cut to `limit` characters, saying how long it was (an integer: its digit count), so
    that a message quoting a hostile value stays one readable line."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if abs(value).bit_length() < 3 * sys.get_int_max_str_digits() else ""
        if text and len(text) <= limit:
            return text
        return f"an integer of {len(text.lstrip('-')) if text else 'thousands of'} digits"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"


def read_bytes(path: str | os.PathLike[str], what: str = "file") -> bytes:
    """The bytes of a regular file of at most `MAX_INPUT_BYTES`; InputFileError saying why not."""
    origin = str(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputFileError(origin, f"cannot read the {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(origin, f"is a folder; expected a {what}")
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode)
            else "special"
        )
        raise InputFileError(origin, f"is {kind}, not a regular file; expected a {what}")
    if info.st_size > MAX_INPUT_BYTES:
        raise InputFileError(
            origin, f"is {info.st_size:,} bytes; a {what} may have at most {MAX_INPUT_BYTES:,} (16 MiB)"
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputFileError(origin, f"cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:  # it grew while we looked
        raise InputFileError(origin, f"is larger than {MAX_INPUT_BYTES:,} bytes (16 MiB)")
    return data


def decode(data: bytes, origin: str) -> str:
    """UTF-8 text without a leading byte-order mark; InputFileError with the line and column otherwise."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputFileError(
            origin, f"expected UTF-8 text; byte 0x{data[exc.start]:02x} is not UTF-8", line, column
        ) from None


def read_text(path: str | os.PathLike[str], what: str = "file") -> str:
    return decode(read_bytes(path, what), str(path))


def nesting(value: Any) -> int:
    """How many levels of lists and dicts `value` has (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_nesting(value: Any, origin: str) -> None:
    if (depth := nesting(value)) > MAX_NESTING:
        raise InputFileError(
            origin, f"arrays and tables nest {depth} levels deep; at most {MAX_NESTING} are accepted"
        )


def too_deep(origin: str) -> InputFileError:
    """The error for a document the parser itself could not descend (Python's recursion limit)."""
    return InputFileError(
        origin, f"arrays and tables nest too deeply; at most {MAX_NESTING} levels are accepted"
    )


def parse_toml(text: str, origin: str) -> dict[str, Any]:
    """`tomllib.loads`, with the nesting limit; its own errors (`TOMLDecodeError`) pass through for the
    caller to place, and an integer too long for Python becomes an InputFileError."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise too_deep(origin) from None
    except tomllib.TOMLDecodeError:
        raise
    except ValueError as exc:  # int('9' * 5000): Python's integer string conversion limit
        raise InputFileError(origin, f"a number is too long: {exc}".split("; use sys.")[0]) from None
    check_nesting(data, origin)
    return data
