"""The fuzz suite (issue 14, item 8): the bundled scenarios and policies, mutated by Hypothesis, through the
loaders and the command-line entry points in process (`cli.main` with argv).

Only clean outcomes are allowed: an exit status of 0, 1 or 2, never a traceback or an exception out of
`main`; exit 2 comes with one `error:` message that says where (the file, or the option) and what.
Mutations are structural (a value anywhere replaced by a hostile one, a key removed or added, an array
entry repeated) or textual (bytes cut, inserted or repeated, invalid UTF-8 included). `run` gets the
mutants that load, under tighter work limits so that a mutant rate cannot make one example take minutes.

The default run keeps a small budget; the `slow` ones run thousands of examples (docs/testing.md, "Fuzz
suite", has the counts). With COSIGNER_HA_FUZZ_TALLY=FILE the outcomes (examples per command and exit
status, distinct error messages) are written to FILE as JSON.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosigner_ha.cli import main
from cosigner_ha.cluster import limits
from cosigner_ha.cluster.bundled import SCENARIOS, bundled_names
from tests.policy.support import WORKSPACE_TOML
from tests.policy.test_seed_methods import METHOD_1_NATIVE, METHOD_2_FIREBLOCKS

SMALL, LARGE = 12, 400
SCENARIO_TEXTS = {name: (SCENARIOS / f"{name}.toml").read_text() for name in bundled_names()}
SCENARIO_DATA = {name: tomllib.loads(text) for name, text in SCENARIO_TEXTS.items()}
POLICY_JSON: dict[str, Any] = json.loads(json.dumps(METHOD_2_FIREBLOCKS))
#: A transaction the export decides against `WORKSPACE` (tests/policy's seed workspace).
TX: dict[str, Any] = {
    "initiator": "jaime",
    "operation": "TRANSFER",
    "asset": "ETH",
    "amount": 1,
    "source": "vault:hot",
    "destination": "wallet:cold",
    "at": 100,
}
WORKSPACE = WORKSPACE_TOML + METHOD_1_NATIVE
#: Work limits for fuzzed runs: every bundled scenario fits (the largest: 720 transactions, 1.3
#: node-days), a mutant that asks for more is refused (exit 2, a clean outcome) instead of running long.
FUZZ_LIMITS = limits.Limits(nodes=8, transactions=1000, events=40_000, node_days=2.0, polls=5000)

HOSTILE_STRINGS = [
    "",
    " ",
    "1e999999999",
    "-1m",
    "0s",
    "100000d",
    "1000/s",
    "1/min",
    "2h",
    "https://[::1",
    "http://",
    "aws",
    "aws/us-east-1/a",
    "nitro",
    "sgx",
    "gcp",
    "SIGNER",
    "ADMIN",
    "OWNER",
    "vault:*",
    "vault:hot",
    "*",
    "crash",
    "pair",
    "unpair",
    "ALLOW",
    "BLOCK",
    "2-TIER",
    "\u2028",
    "\x00",
    "é" * 3,
    "x" * 300,
    "no_such_module:handler",
    "os:getcwd",
    "json:dumps",
]
LEAVES = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=12),
    st.integers(-(2**64), 2**64),
    st.sampled_from([0, -1, 1, 2**63 - 1, 2**63, 9223372036854775807, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
VALUES = st.one_of(
    LEAVES,
    st.lists(LEAVES, max_size=3),
    st.dictionaries(st.sampled_from(["name", "at", "node", "rate", "x", "min", "max"]), LEAVES, max_size=2),
)
BYTES = st.sampled_from(
    [
        b"[",
        b"]",
        b"{",
        b"}",
        b"=",
        b'"',
        b"'",
        b"\n",
        b"#",
        b",",
        b"\xff",
        b"\xef\xbb\xbf",
        b"9" * 40,
        b"[[x]]\n",
    ]
)


# -- tallies -------------------------------------------------------------------------------------------

TALLY: Counter[str] = Counter()
ERRORS: dict[str, set[str]] = {}


@pytest.fixture(scope="module", autouse=True)
def _tally() -> Iterator[None]:
    yield
    target = os.environ.get("COSIGNER_HA_FUZZ_TALLY")
    if target:
        data = {
            "outcomes": dict(sorted(TALLY.items())),
            "distinct_errors": {k: len(v) for k, v in sorted(ERRORS.items())},
            "examples": sum(v for k, v in TALLY.items()),
        }
        Path(target).write_text(json.dumps(data, indent=2) + "\n")


def _shape(message: str) -> str:
    """An error message with its file, numbers and quoted values blanked: one per kind of mistake."""
    line = re.sub(re.escape(tempfile.gettempdir()) + r"/tmp\w+/", "", message.splitlines()[0])
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+(\.\d+)?", "_", line)[:160]


# -- running a command ---------------------------------------------------------------------------------


def clean_outcome(
    argv: list[str], capsys: pytest.CaptureFixture[str], where: list[str], label: str
) -> tuple[int, str]:
    """Run `cosigner-ha ARGV` in process: exit 0, 1 or 2, no traceback; exit 2 says where and what."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), f"{argv}: exit {code}\n{err[-2000:]}"
    assert "Traceback" not in out + err, f"{argv}:\n{err[-3000:]}"
    TALLY[f"{label} exit {code}"] += 1
    if code == 2:
        first = err.strip().splitlines()[0] if err.strip() else ""
        assert first.startswith(("error:", "usage:")) or "error:" in err, f"{argv}: {err[-500:]}"
        assert any(w in err for w in where), f"{argv}: the message does not say where ({where}):\n{err}"
        assert "got NoneType None" not in err, err
        assert len(max(err.splitlines(), key=len)) < 2000, "a message quoting a value whole"
        ERRORS.setdefault(label, set()).add(_shape(first))
    return code, err


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def structural(draw: st.DrawFn, original: Any) -> Any:
    """`original` with one to three edits: a value replaced, a key removed or added, an entry repeated."""
    data = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(data, path), path[-1]
        edit = draw(st.sampled_from(["replace", "replace", "replace", "remove", "add", "repeat"]))
        if edit == "replace":
            parent[key] = draw(VALUES)
        elif edit == "remove":
            del parent[key]
        elif edit == "add" and isinstance(parent, dict):
            parent[
                draw(st.sampled_from(["extra", "for", "api_user", "node", "count", "duration", "seed"]))
            ] = draw(VALUES)
        elif edit == "repeat" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return data


@st.composite
def textual(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with one to three byte edits: a slice cut, bytes inserted, a line repeated."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["cut", "insert", "repeat"]))
        if edit == "cut":
            data[at : at + draw(st.integers(1, 40))] = b""
        elif edit == "insert":
            data[at:at] = draw(BYTES)
        else:
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            end = len(data) if end < 0 else end + 1
            data[end:end] = data[start:end]
    return bytes(data)


def scenario_mutants() -> st.SearchStrategy[tuple[str, bytes]]:
    def as_toml(name: str) -> st.SearchStrategy[tuple[str, bytes]]:
        structure = structural(SCENARIO_DATA[name]).map(lambda d: tomli_w.dumps(d).encode())
        text = textual(SCENARIO_TEXTS[name].encode())
        return st.one_of(structure, text).map(lambda b: (name, b))

    return st.sampled_from(sorted(SCENARIO_DATA)).flatmap(as_toml)


def _write(folder: str, name: str, data: bytes) -> Path:
    path = Path(folder) / name
    path.write_bytes(data)
    return path


# -- the properties ------------------------------------------------------------------------------------

FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def budget(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


def _scenario_commands(mutant: tuple[str, bytes], capsys: pytest.CaptureFixture[str], *, run: bool) -> None:
    name, data = mutant
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, f"{name}.toml", data)
        where = [str(path)]
        code, _ = clean_outcome(["analyze", str(path)], capsys, where, "analyze")
        clean_outcome(["policy", "lint", str(path)], capsys, where, "policy lint")
        if run and code != 2:
            keys = Path(folder) / "keys"
            keys.mkdir()
            clean_outcome(["keys", str(path), "--out", str(keys)], capsys, where, "keys")
            report = Path(folder) / "report.json"
            code, _ = clean_outcome(["run", str(path), "--json", str(report)], capsys, where, "run")
            assert report.exists() == (code != 2)


def _policy_commands(
    policy: bytes, tx: bytes, capsys: pytest.CaptureFixture[str], scenario: Callable[[str], Path]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, "policy.json", policy)
        tx_path = _write(folder, "tx.json", tx)
        where = [str(path), str(tx_path), "--tx"]
        clean_outcome(["policy", "lint", str(path)], capsys, where, "policy lint (json)")
        clean_outcome(
            ["policy", "eval", str(path), "--tx", f"@{tx_path}", "--scenario", str(scenario(folder))],
            capsys,
            where,
            "policy eval",
        )


def _seed_scenario(folder: str) -> Path:
    return _write(folder, "seed.toml", WORKSPACE.encode())


def policy_mutants() -> st.SearchStrategy[tuple[bytes, bytes]]:
    policy_json = json.dumps(POLICY_JSON).encode()
    tx_json = json.dumps(TX).encode()
    policies = st.one_of(
        structural(POLICY_JSON).map(lambda d: json.dumps(d, allow_nan=True).encode()), textual(policy_json)
    )
    txs = st.one_of(
        st.just(tx_json),
        structural(TX).map(lambda d: json.dumps(d, allow_nan=True).encode()),
        textual(tx_json),
    )
    return st.tuples(policies, txs)


def test_the_unmutated_inputs_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    """The seeds the mutations start from pass, so that a mutant's refusal is the mutation's doing."""
    with tempfile.TemporaryDirectory() as folder:
        policy = _write(folder, "policy.json", json.dumps(POLICY_JSON).encode())
        tx = _write(folder, "tx.json", json.dumps(TX).encode())
        argv = ["policy", "eval", str(policy), "--tx", f"@{tx}", "--scenario", str(_seed_scenario(folder))]
        assert clean_outcome(argv, capsys, [], "seed")[0] == 0
        for name, text in SCENARIO_TEXTS.items():
            path = _write(folder, f"{name}.toml", text.encode())
            assert clean_outcome(["analyze", str(path)], capsys, [], "seed")[0] in (0, 1)


@pytest.fixture
def fuzz_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "DEFAULT_LIMITS", FUZZ_LIMITS)


@budget(SMALL)
@given(mutant=scenario_mutants())
def test_mutated_scenarios_load_or_are_refused_cleanly(
    mutant: tuple[str, bytes], capsys: pytest.CaptureFixture[str], fuzz_limits: None
) -> None:
    _scenario_commands(mutant, capsys, run=False)


@budget(4)
@given(mutant=scenario_mutants())
def test_mutated_scenarios_run_or_are_refused_cleanly(
    mutant: tuple[str, bytes], capsys: pytest.CaptureFixture[str], fuzz_limits: None
) -> None:
    _scenario_commands(mutant, capsys, run=True)


@budget(SMALL)
@given(mutant=policy_mutants())
def test_mutated_policies_and_transactions_are_decided_or_refused_cleanly(
    mutant: tuple[bytes, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    _policy_commands(*mutant, capsys, _seed_scenario)


@pytest.mark.slow
@pytest.mark.timeout(7200)
@budget(LARGE * 5)
@given(mutant=scenario_mutants())
def test_many_mutated_scenarios_load_or_are_refused_cleanly(
    mutant: tuple[str, bytes], capsys: pytest.CaptureFixture[str], fuzz_limits: None
) -> None:
    _scenario_commands(mutant, capsys, run=False)


@pytest.mark.slow
@pytest.mark.timeout(7200)
@budget(LARGE // 4)
@given(mutant=scenario_mutants())
def test_many_mutated_scenarios_run_or_are_refused_cleanly(
    mutant: tuple[str, bytes], capsys: pytest.CaptureFixture[str], fuzz_limits: None
) -> None:
    _scenario_commands(mutant, capsys, run=True)


@pytest.mark.slow
@pytest.mark.timeout(7200)
@budget(LARGE * 2)
@given(mutant=policy_mutants())
def test_many_mutated_policies_and_transactions_are_decided_or_refused_cleanly(
    mutant: tuple[bytes, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    _policy_commands(*mutant, capsys, _seed_scenario)
