"""Hostile input files: every command answers exit 2 with what and where, never a traceback, and writes
nothing (issue 14, item 1: nesting, long integers, BOM, non-regular files, size, encoding)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cosigner_ha import inputs
from cosigner_ha.cli import main
from cosigner_ha.cluster.bundled import SCENARIOS

SCENARIO = SCENARIOS / "single-cosigner.toml"


def _files(tmp: Path) -> dict[str, Path]:
    made = {
        "deep.toml": "a = " + "[" * 5000 + "]" * 5000 + "\n",
        "nested.toml": "a = " + "[" * 70 + "]" * 70 + "\n",  # under Python's limit, over ours
        "bigint.toml": '[scenario]\nname = "x"\nseed = ' + "9" * 5000 + "\n",
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "bigint.json": '{"rules": [{"amount": ' + "9" * 5000 + "}]}",
    }
    out = {}
    for name, text in made.items():
        (tmp / name).write_text(text)
        out[name] = tmp / name
    (tmp / "badutf8.json").write_bytes(b'{"a": "\xff"}')
    out["badutf8.json"] = tmp / "badutf8.json"
    os.mkfifo(tmp / "fifo.toml")
    out["fifo.toml"] = tmp / "fifo.toml"
    with open(tmp / "big.toml", "wb") as f:  # sparse: no disk used
        f.truncate(inputs.MAX_INPUT_BYTES + 1)
    out["big.toml"] = tmp / "big.toml"
    return out


CASES = [
    (["run", "{deep.toml}"], "nest too deeply"),
    (["run", "{nested.toml}"], "nest 71 levels deep; at most 64"),
    (["run", "{bigint.toml}"], "a number is too long"),
    (["run", "/dev/zero"], "is a device, not a regular file"),
    (["run", "{fifo.toml}"], "is a FIFO, not a regular file"),
    (["run", "{big.toml}"], "may have at most 16,777,216"),
    (["run", "{dir}"], "is a folder"),
    (["analyze", "{deep.toml}"], "nest too deeply"),
    (["explore", "{deep.toml}", "--budget", "1", "--engine", "local"], "nest too deeply"),
    (["sweep", "{deep.toml}", "--seeds", "1", "--engine", "local"], "nest too deeply"),
    (["policy", "lint", "{deep.json}"], "nest too deeply"),
    (["policy", "lint", "{bigint.json}"], "a number is too long"),
    (["policy", "lint", "{badutf8.json}"], "byte 0xff is not UTF-8 (line 1, column 8)"),
    (["policy", "eval", str(SCENARIO), "--tx", "@{badutf8.json}"], "byte 0xff is not UTF-8"),
    (["policy", "eval", str(SCENARIO), "--tx", "@{fifo.toml}"], "is a FIFO"),
    (["policy", "eval", str(SCENARIO), "--tx", "@/dev/zero"], "is a device"),
]


@pytest.mark.parametrize(("argv", "words"), CASES, ids=[" ".join(a[:2]) + " " + w for a, w in CASES])
def test_a_hostile_input_is_exit_2_with_what_and_where(
    argv: list[str],
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = _files(tmp_path)
    (tmp_path / "dir").mkdir()
    names = {**{k: str(v) for k, v in files.items()}, "dir": str(tmp_path / "dir")}
    args = []
    for a in argv:
        for key, value in names.items():
            a = a.replace("{" + key + "}", value)
        args.append(a)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err, err
    assert "Traceback" not in err
    assert list(out.iterdir()) == []  # nothing written


def test_a_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with_bom = tmp_path / "bom.toml"
    with_bom.write_bytes(b"\xef\xbb\xbf" + SCENARIO.read_bytes())
    assert main(["analyze", str(with_bom)]) in (0, 1)
    assert "Traceback" not in capsys.readouterr().err


def test_nesting_is_measured_without_recursion() -> None:
    value: list[object] = []
    for _ in range(100_000):
        value = [value]
    assert inputs.nesting(value) == 100_001
    assert inputs.nesting({"a": [1, {"b": 2}]}) == 3 and inputs.nesting(5) == 0
