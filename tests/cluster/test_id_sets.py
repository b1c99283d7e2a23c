"""The invariant folds' compact sets and maps answer exactly as a `set` / `dict` of the ids would, and a
run's numbered ids cost bits or bytes each, however many there are."""

from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.cluster import id_sets
from cosigner_ha.cluster.id_sets import IdColumn, IdIndex, IdMap, IdSet, IdToId, number

# numbered ids, and every near miss that must not be taken for one: leading zeros, signs, other
# prefixes, huge numbers, non-ASCII digits, plain text
IDS = st.one_of(
    st.integers(1, 300).map(lambda n: f"tx-{n}"),
    st.integers(1, 300).map(lambda n: f"probe-{n}"),
    st.sampled_from(["tx-0", "tx-007", "tx--1", "tx-+1", "tx-", "tx", "tx-12345678", "tx-\u0663", "txx-1"]),
    st.text(max_size=8),
)


def test_only_the_sequence_form_is_a_number() -> None:
    assert number("tx-1", "tx") == 1 and number("probe-42", "probe") == 42
    for other in (
        "tx-0",
        "tx-01",
        "tx-+1",
        "tx--1",
        "tx-",
        "tx-1a",
        "tx-\u0663",
        "tx-12345678",
        "t-1",
        "txx-1",
    ):
        assert number(other, "tx") == -1, other


def test_numbers_stay_exact_past_the_memo_and_the_memo_stays_bounded() -> None:
    """`number` memoises what it parsed (a run asks about each id some thirty times); past
    `NUMBERED_KEPT` ids it starts again, so a day-long run holds no more than that many, and every answer
    is the one the parse gives, the same id asked under another prefix included."""
    ids = [f"tx-{n}" for n in range(1, 3 * id_sets.NUMBERED_KEPT)] + ["tx-007", "probe-9", "x"]
    for ident in ids * 2:
        assert number(ident, "tx") == id_sets._number(ident, "tx")
        assert number(ident, "probe") == id_sets._number(ident, "probe")
        assert all(len(memo) <= id_sets.NUMBERED_KEPT for memo in id_sets._NUMBERED.values())
    assert number("tx-5", "tx") == 5 and number("tx-5", "probe") == -1


@given(st.lists(st.tuples(st.booleans(), IDS), max_size=60), st.lists(IDS, max_size=20))
def test_id_set_is_a_set(ops: list[tuple[bool, str]], probes: list[str]) -> None:
    compact, plain = IdSet(), set()
    for add, ident in ops:
        if add:
            compact.add(ident)
            plain.add(ident)
        else:
            compact.discard(ident)
            plain.discard(ident)
        assert len(compact) == len(plain)
    for ident in [i for _, i in ops] + probes:
        assert (ident in compact) == (ident in plain)


def test_sets_and_maps_answer_exactly_across_the_memo_emptying_itself() -> None:
    """Each set or map looks ids up in its prefix's memo itself; the memo empties when full (more ids
    than `NUMBERED_KEPT` pass), and every answer stays that of a plain set and dict."""
    n = 2 * id_sets.NUMBERED_KEPT + 10
    ids = [f"tx-{i}" for i in range(1, n)] + ["tx-007", "other"]
    signed, decided, rows, column = IdSet(), IdMap[int](), IdIndex(), IdColumn()
    probes = IdToId("probe")
    for i, ident in enumerate(ids):
        signed.add(ident)
        decided[ident] = i % 3
        rows[ident] = i
        column.append(ident)
        probes[f"probe-{i + 1}"] = ident
    for i, ident in enumerate(ids):
        assert ident in signed and decided.get(ident) == i % 3 and rows.get(ident) == i
        assert column[i] == ident and probes.get(f"probe-{i + 1}") == ident
    assert len(signed) == len(ids) and "tx-0" not in signed and signed.prefix == "tx"
    assert all(len(memo) <= id_sets.NUMBERED_KEPT for memo in id_sets._NUMBERED.values())


@given(
    st.lists(st.tuples(IDS, st.sampled_from([("ALLOW", ()), ("ALLOW", ("a",)), ("BLOCK", ())])), max_size=60)
)
def test_id_map_is_a_dict(items: list[tuple[str, tuple[str, tuple[str, ...]]]]) -> None:
    compact: IdMap[tuple[str, tuple[str, ...]]] = IdMap()
    plain = {}
    for ident, value in items:
        compact[ident] = value
        plain[ident] = value
    for ident, _ in items:
        assert compact.get(ident) == plain[ident]
    assert compact.get("tx-999") is None and compact.get("nothing") is None


@given(st.lists(st.tuples(IDS, IDS), max_size=60))
def test_id_to_id_is_a_dict(items: list[tuple[str, str]]) -> None:
    compact, plain = IdToId("probe"), {}
    for ident, value in items:
        compact[ident] = value
        plain[ident] = value
    for ident, _ in items:
        assert compact.get(ident) == plain[ident]
    assert compact.get("probe-999") is None


@given(st.lists(IDS, max_size=60))
def test_id_index_and_column_are_a_dict_and_a_list(idents: list[str]) -> None:
    index, column, plain = IdIndex(), IdColumn(), {}
    for row, ident in enumerate(idents):
        index[ident] = row
        plain[ident] = row
        column.append(ident)
    assert [column[i] for i in range(len(column))] == idents and len(column) == len(idents)
    for ident in idents:
        assert index.get(ident) == plain[ident] and ident in index
    assert index.get("tx-999") is None and "nothing" not in index


def test_a_run_of_numbered_ids_costs_bits_not_entries() -> None:
    """100,000 transactions: an eighth of a byte each in a set, four bytes each in a map."""
    signed, decisions, probes = IdSet(), IdMap[tuple[str, ...]](), IdToId("probe")
    for n in range(1, 100_001):
        signed.add(f"tx-{n}")
        decisions[f"tx-{n}"] = ("ALLOW", "signer-a") if n % 2 else ("ALLOW", "signer-b")
        probes[f"probe-{2 * n}"] = f"tx-{n}"
    assert len(signed) == 100_000 and "tx-100000" in signed and "tx-100001" not in signed
    assert decisions.get("tx-7") == ("ALLOW", "signer-a") and probes.get("probe-14") == "tx-7"
    assert sys.getsizeof(signed._bits) < 100_000 // 8 + 4_096
    assert len(decisions._values) == 2 and decisions._codes.itemsize * len(decisions._codes) <= 4 * 100_001
    assert not signed._other and not decisions._other and not probes._other
    rows, column = IdIndex(), IdColumn()
    for n in range(1, 100_001):
        rows[f"tx-{n}"] = n - 1
        column.append(f"tx-{n}")
    assert rows.get("tx-100000") == 99_999 and column[99_999] == "tx-100000"
    assert not rows._other and not column._other and len(column._numbers) == 100_000
