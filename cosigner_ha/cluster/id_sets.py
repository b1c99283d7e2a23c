"""Sets and maps of a run's numbered identifiers, a few bits or bytes an identifier.

The invariant folds remember something about every transaction of a run (signed, approved by whom, its
decision): as hash-set and dict entries that is 30 to 70 bytes a fact, and a day-long run has 86,400
transactions. The SaaS numbers what it names (`tx-1`, `probe-7`: `IdFactory.sequence`), so such an id is
its number: bit `n` of a bitmap in a set, slot `n` of an array of small codes in a map. Any other id (a
hand-built trace, a runtime that names differently) goes to a plain set or dict beside, so the answers
are exactly those of a `set` or `dict` of the ids.
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V", bound=Hashable)

#: Numbers up to this many digits go to the bitmaps and arrays (a run's ids stay far below); a larger
#: number (only a hand-built trace has one) goes to the plain set, so no trace can make a table huge.
MAX_DIGITS = 7


#: Ids already numbered, per prefix: a run looks each transaction's id up some thirty times (every check
#: and the table), within a few simulated seconds, so a small cache answers nearly all. Cleared when full,
#: so it stays a few hundred kilobytes whatever the length of the run.
_NUMBERED: dict[str, dict[str, int]] = {}
NUMBERED_KEPT = 4096


def _memo(prefix: str) -> dict[str, int]:
    """The memo of `prefix`'s ids: one dict for the whole process, emptied (never replaced) when full, so
    a set or map may hold it and look an id up there before it calls `number`."""
    cache = _NUMBERED.get(prefix)
    if cache is None:
        cache = _NUMBERED[prefix] = {}
    return cache


def number(ident: str, prefix: str) -> int:
    """`n` for `<prefix>-<n>` written as `IdFactory.sequence` writes it (no sign, no leading zero); -1
    for any other id, so that each number stands for one id only."""
    cache = _memo(prefix)
    n = cache.get(ident)
    if n is None:
        if len(cache) >= NUMBERED_KEPT:
            cache.clear()
        n = cache[ident] = _number(ident, prefix)
    return n


def _number(ident: str, prefix: str) -> int:
    if not ident.startswith(prefix) or ident[len(prefix) : len(prefix) + 1] != "-":
        return -1
    digits = ident[len(prefix) + 1 :]
    if 0 < len(digits) <= MAX_DIGITS and digits.isascii() and digits.isdigit() and digits[0] != "0":
        return int(digits)
    return -1


def _put(slots: array[int], n: int, value: int, *, empty: int) -> None:
    """`slots[n] = value`, first growing the array with `empty` up to slot `n` (numbers arrive in order, so
    it grows by one slot at a time, amortised by array's own over-allocation)."""
    if n >= len(slots):
        slots.extend(array(slots.typecode, [empty]) * (n + 1 - len(slots)))
    slots[n] = value


class _Numbered:
    """What the sets and maps below share: their prefix (fixed: the memo is that prefix's) and its memo,
    held so that an id numbered before costs one dict look-up, not a call of `number` (the folds ask
    some twenty thousand times in ten busy minutes)."""

    __slots__ = ("_memo", "_prefix")

    def __init__(self, prefix: str) -> None:
        self._prefix, self._memo = prefix, _memo(prefix)

    @property
    def prefix(self) -> str:
        return self._prefix


class IdSet(_Numbered):
    """A set of identifiers: `<prefix>-<n>` as bit `n`, any other in a set."""

    __slots__ = ("_bits", "_count", "_other")

    def __init__(self, prefix: str = "tx") -> None:
        super().__init__(prefix)
        self._bits = bytearray()
        self._other: set[str] = set()
        self._count = 0

    def add(self, ident: str) -> None:
        n = self._memo.get(ident)
        if n is None:
            n = number(ident, self._prefix)
        if n < 0:
            if ident not in self._other:
                self._other.add(ident)
                self._count += 1
            return
        byte, bit = n >> 3, 1 << (n & 7)
        bits = self._bits
        if byte >= len(bits):
            bits.extend(bytes(byte + 1 - len(bits)))
        if not bits[byte] & bit:
            bits[byte] |= bit
            self._count += 1

    def discard(self, ident: str) -> None:
        n = self._memo.get(ident)
        if n is None:
            n = number(ident, self._prefix)
        if n < 0:
            if ident in self._other:
                self._other.discard(ident)
                self._count -= 1
        elif ident in self:
            self._bits[n >> 3] &= ~(1 << (n & 7)) & 0xFF
            self._count -= 1

    def __contains__(self, ident: object) -> bool:
        if not isinstance(ident, str):
            return False
        n = self._memo.get(ident)
        if n is None:
            n = number(ident, self._prefix)
        if n < 0:
            return ident in self._other
        byte = n >> 3
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << (n & 7)))

    def __len__(self) -> int:
        return self._count


class IdMap(_Numbered, Generic[V]):
    """A map from identifiers to values that repeat (a decision, a tuple of signers): `<prefix>-<n>` as
    slot `n` of an array of codes into one table of the distinct values, any other id in a dict."""

    __slots__ = ("_code", "_codes", "_other", "_values")

    def __init__(self, prefix: str = "tx") -> None:
        super().__init__(prefix)
        self._codes = array("i")  # -1: no value
        self._values: list[V] = []
        self._code: dict[V, int] = {}
        self._other: dict[str, V] = {}

    def __setitem__(self, ident: str, value: V) -> None:
        n = self._memo.get(ident)
        if n is None:
            n = number(ident, self._prefix)
        if n < 0:
            self._other[ident] = value
            return
        code = self._code.get(value)
        if code is None:
            code = self._code[value] = len(self._values)
            self._values.append(value)
        _put(self._codes, n, code, empty=-1)

    def get(self, ident: str, default: V | None = None) -> V | None:
        n = self._memo.get(ident)
        if n is None:
            n = number(ident, self._prefix)
        if n < 0:
            return self._other.get(ident, default)
        code = self._codes[n] if n < len(self._codes) else -1
        return default if code < 0 else self._values[code]


class IdToId(_Numbered):
    """A map from identifiers to identifiers (a probe's transaction): `<prefix>-<n>` to `<target>-<m>` as
    `m` in slot `n` of an array; any other pair in a dict."""

    __slots__ = ("_numbers", "_other", "_target", "_target_memo")

    def __init__(self, prefix: str, target: str = "tx") -> None:
        super().__init__(prefix)
        self._target, self._target_memo = target, _memo(target)
        self._numbers = array("i")  # 0: none (numbers start at 1)
        self._other: dict[str, str] = {}

    def __setitem__(self, ident: str, value: str) -> None:
        n, m = self._memo.get(ident), self._target_memo.get(value)
        if n is None:
            n = number(ident, self._prefix)
        if m is None:
            m = number(value, self._target)
        if n < 0 or m < 0:
            self._other[ident] = value
            if 0 <= n < len(self._numbers):
                self._numbers[n] = 0
            return
        self._other.pop(ident, None)
        _put(self._numbers, n, m, empty=0)

    def get(self, ident: str) -> str | None:
        n = self._memo.get(ident)
        if n is None:
            n = number(ident, self._prefix)
        m = self._numbers[n] if 0 <= n < len(self._numbers) else 0
        return f"{self._target}-{m}" if m else self._other.get(ident)


class IdIndex(_Numbered):
    """A map from identifiers to non-negative ints (a transaction's row): `<prefix>-<n>` as slot `n` of an
    array, any other id in a dict."""

    __slots__ = ("_other", "_slots")

    def __init__(self, prefix: str = "tx") -> None:
        super().__init__(prefix)
        self._slots = array("q")  # value + 1; 0: none
        self._other: dict[str, int] = {}

    def __setitem__(self, ident: str, value: int) -> None:
        n = self._memo.get(ident)
        if n is None:
            n = number(ident, self._prefix)
        if n < 0:
            self._other[ident] = value
            return
        _put(self._slots, n, value + 1, empty=0)

    def get(self, ident: str) -> int | None:
        n = self._memo.get(ident)
        if n is None:
            n = number(ident, self._prefix)
        if n < 0:
            return self._other.get(ident)
        value = self._slots[n] if n < len(self._slots) else 0
        return value - 1 if value else None

    def __contains__(self, ident: str) -> bool:
        return self.get(ident) is not None


class IdColumn(_Numbered):
    """A list of identifiers (each transaction's id, in row order): `<prefix>-<n>` as `n` in an array,
    any other id beside, by position; read back as the same strings."""

    __slots__ = ("_numbers", "_other")

    def __init__(self, prefix: str = "tx") -> None:
        super().__init__(prefix)
        self._numbers = array("q")  # 0: the id is in `_other`
        self._other: dict[int, str] = {}

    def append(self, ident: str) -> None:
        n = self._memo.get(ident)
        if n is None:
            n = number(ident, self._prefix)
        if n < 0:
            self._other[len(self._numbers)] = ident
        self._numbers.append(max(n, 0))

    def __getitem__(self, i: int) -> str:
        n = self._numbers[i]
        return f"{self._prefix}-{n}" if n else self._other[i % len(self._numbers)]

    def __len__(self) -> int:
        return len(self._numbers)
