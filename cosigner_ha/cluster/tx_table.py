"""Every transaction of a run in a few bytes, folded from the trace as it is written.

The report needs each transaction's course (when it was submitted and ended, how, who signed) and each
signature's mark: for the percentiles, the fault impacts, the breakdowns and the page. Kept as objects
(`TxPoint`, `SignatureMark`) they cost about half a kilobyte each; here they are columns (`array`s of
floats and of small codes into tables of the few distinct values), about 60 bytes a transaction, and
`points()` / `signatures()` are read-only sequences that build the objects as they are read, equal to the
tuples the analysis built before, in the same order (a transaction's first submission).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Hashable, Iterator, Sequence
from types import MethodType
from typing import Any, Generic, TypeVar, overload

from cosigner_ha.cluster.id_sets import IdColumn, IdIndex
from cosigner_ha.cluster.invariants import TERMINAL_KINDS
from cosigner_ha.cluster.report import SignatureMark, TxPoint
from cosigner_ha.env import Event

SIGNABLE = ("PENDING_SIGNATURE", "PENDING_AUTHORIZATION")
_NONE = math.nan  # no value, in a float column


def workload_of(external_id: object) -> str | None:
    """The workload that submitted a transaction: its external id is `<workload>-<n>` (workloads.py)."""
    if not isinstance(external_id, str):
        return None
    name, sep, n = external_id.rpartition("-")
    return name if sep and n.isdigit() else None


class _Codes:
    """The distinct values of a column (statuses, nodes, causes, ...), each a small code."""

    __slots__ = ("_code", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._code: dict[Hashable, int] = {}

    def __call__(self, value: Any) -> int:
        key = (type(value), value)  # 1 and 1.0 and True are different values to a report
        code = self._code.get(key)
        if code is None:
            code = self._code[key] = len(self.values)
            self.values.append(value)
        return code


class _Floats:
    """A float column (NaN: none); a value that is not a float (an int from a hand-built trace) is kept
    aside as it is, so that what is read back is what was fed."""

    __slots__ = ("_odd", "_values")

    def __init__(self) -> None:
        self._values = array("d")
        self._odd: dict[int, Any] = {}

    def append(self, value: Any) -> None:
        if type(value) is float and value == value:  # a float, not NaN: what a run's times are
            self._values.append(value)
        else:
            self._values.append(_NONE)
            self[len(self._values) - 1] = value

    def __setitem__(self, i: int, value: Any) -> None:
        self._odd.pop(i, None)
        if type(value) is float and not math.isnan(value):
            self._values[i] = value
        else:
            self._values[i] = _NONE
            if value is not None:
                self._odd[i] = value

    def __getitem__(self, i: int) -> Any:
        v = self._values[i]
        if v == v:  # not NaN
            return v
        return self._odd.get(i)


class TxTable:
    """The fold: `feed` each event of the run in trace order; then `points(t0)`, `signatures(t0)`."""

    def __init__(self) -> None:
        self._rows = IdIndex()  # tx -> row (a few bytes a transaction: cluster/id_sets.py)
        self._tx = IdColumn()
        self._t_sub = _Floats()
        self._t_end = _Floats()
        self._latency = _Floats()
        self.codes = _Codes()  # one table for every coded column: a few dozen values in a run
        # coded columns: status so far, end status, sub-status, cause, reason, workload, rule, node, workspace
        self._cols: dict[str, array[int]] = {name: array("i") for name in _COLUMNS}
        self._all_cols = tuple(self._cols.values())
        # the columns every submission or signature writes, by name once
        self._last, self._workload, self._workspace = (
            self._cols[n] for n in ("last", "workload", "workspace")
        )
        self._early: dict[str, dict[str, Any]] = {}  # facts about a transaction before its `submitted`
        self._sig_t = _Floats()
        self._sig_node = array("i")
        self._sig_user = array("i")
        self._sig_tx = IdColumn()
        self.decided_signable = 0
        self._none = self.codes(None)
        self._submitted_code = self.codes("SUBMITTED")

    def __len__(self) -> int:
        return len(self._tx)

    def feed(self, e: Event) -> None:
        handler = _HANDLERS.get(e.kind)
        if handler is not None:
            handler(self, e)

    def handlers(self) -> dict[str, Callable[[Event], None]]:
        """What `feed` calls, by kind, bound: for a caller that dispatches on kind once for several folds."""
        return {kind: MethodType(handler, self) for kind, handler in _HANDLERS.items()}

    # -- the events

    def _submitted(self, e: Event) -> None:
        f = e.fields
        tx = str(f.get("tx"))
        row = self._rows.get(tx)
        if row is None:  # a new row (a transaction is submitted once, but a trace may say it twice)
            row = self._rows[tx] = len(self._tx)
            self._tx.append(tx)
            self._t_sub.append(e.t)
            self._t_end.append(None)
            self._latency.append(None)
            for column in self._all_cols:
                column.append(self._none)
        else:
            self._t_sub[row] = e.t
        codes = self.codes
        self._workload[row] = codes(workload_of(f.get("external_id")))
        self._workspace[row] = codes(str(f.get("workspace")))
        self._last[row] = self._submitted_code
        if self._early:
            early = self._early.pop(tx, None)
            for what, value in (early or {}).items():
                if what != "last":  # the submission sets the status so far, whatever came before it
                    self._apply(row, what, value)

    def _decision(self, e: Event) -> None:
        tx = str(e.fields.get("tx"))
        self._set(tx, "last", e.fields["status"])
        self._set(tx, "rule", e.fields.get("rule"))
        self.decided_signable += e.fields["status"] in SIGNABLE

    def _status(self, e: Event) -> None:
        tx = str(e.fields.get("tx"))
        if "status" in e.fields:
            self._set(tx, "last", e.fields["status"])
        elif tx not in self._rows:  # as `last_status.get(tx, "")` did for a transaction not seen yet
            self._early.setdefault(tx, {}).setdefault("last", "")

    def _signed(self, e: Event) -> None:
        f = e.fields
        tx = str(f.get("tx"))
        node = self.codes(f["node"])
        row = self._rows.get(tx)
        if row is None:
            self._early.setdefault(tx, {})["node"] = f["node"]
        else:
            self._cols["node"][row] = node
        self._sig_t.append(e.t)
        self._sig_node.append(node)
        self._sig_user.append(self.codes(f["api_user"]))
        self._sig_tx.append(tx)

    def _ended(self, e: Event) -> None:
        f = e.fields
        if "tx" in f:
            tx = str(f["tx"])
            row = self._rows.get(tx)
            if row is None:
                self._early.setdefault(tx, {})["end"] = e
            else:
                self._end(row, e)

    def _set(self, tx: str, what: str, value: Any) -> None:
        row = self._rows.get(tx)
        if row is None:
            self._early.setdefault(tx, {})[what] = value
        else:
            self._apply(row, what, value)

    def _apply(self, row: int, what: str, value: Any) -> None:
        if what == "end":
            self._end(row, value)
        else:
            self._cols[what][row] = self.codes(value)

    def _end(self, row: int, end: Event) -> None:
        f = end.fields
        status = f["status"]
        cols, codes = self._cols, self.codes
        self._t_end[row] = end.t
        cols["end"][row] = codes(status)
        cols["sub"][row] = codes(f.get("sub_status"))
        cols["cause"][row] = codes(f.get("cause"))
        cols["reason"][row] = codes(str(f.get("reason", "")))
        self._latency[row] = f.get("latency") if status == "COMPLETED" else None

    # -- reading back

    def point(self, row: int, t0: float) -> TxPoint:
        v = self.codes.values
        cols = self._cols
        t_end = self._t_end[row]
        ended = t_end is not None
        return TxPoint(
            t_submitted=self._t_sub[row] - t0,
            t_terminal=t_end - t0 if ended else None,
            status=v[cols["end"][row]] if ended else v[cols["last"][row]],
            sub_status=v[cols["sub"][row]] if ended else None,
            latency=self._latency[row] if ended else None,
            node=v[cols["node"][row]],
            tx=self._tx[row],
            cause=v[cols["cause"][row]] if ended else None,
            reason=v[cols["reason"][row]] if ended else "",
            workload=v[cols["workload"][row]],
            rule=v[cols["rule"][row]],
        )

    def workspace(self, row: int) -> str:
        return str(self.codes.values[self._cols["workspace"][row]])

    def signature(self, i: int, t0: float) -> SignatureMark:
        v = self.codes.values
        return SignatureMark(self._sig_t[i] - t0, v[self._sig_node[i]], self._sig_tx[i], v[self._sig_user[i]])

    def points(self, t0: float) -> Rows[TxPoint]:
        return Rows(len(self._tx), self.point, t0)

    def signatures(self, t0: float) -> Rows[SignatureMark]:
        return Rows(len(self._sig_tx), self.signature, t0)


_COLUMNS = ("last", "end", "sub", "cause", "reason", "workload", "rule", "node", "workspace")
_HANDLERS: dict[str, Callable[[TxTable, Event], None]] = {
    "submitted": TxTable._submitted,
    "policy_decision": TxTable._decision,
    "tx_status": TxTable._status,
    "signed": TxTable._signed,
    **dict.fromkeys(TERMINAL_KINDS, TxTable._ended),
}

T = TypeVar("T")


class Rows(Sequence[T], Generic[T]):
    """A read-only sequence whose items are built on reading (from a `TxTable`): equal to a tuple or list
    of the same items, so reports compare as they did when they held tuples."""

    __slots__ = ("_get", "_n", "_t0")

    def __init__(self, n: int, get: Callable[[int, float], T], t0: float) -> None:
        self._n = n
        self._get = get
        self._t0 = t0

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[T]:
        get, t0 = self._get, self._t0
        for i in range(self._n):
            yield get(i, t0)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._get(i, self._t0) for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError("row index out of range")
        return self._get(index, self._t0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (a sweep's report going back from a worker) as the plain tuple it stands for."""
        return (tuple, (tuple(self),))

    def __repr__(self) -> str:
        return f"<{self._n} rows>"
