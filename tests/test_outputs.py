"""Outputs never destroy anything: an output that is an input, a folder, a FIFO, a device or a symlink to
one, in a folder that cannot be written, or twice the same file, is refused before the run (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.bundled import SCENARIOS

SCENARIO = SCENARIOS / "single-cosigner.toml"


def _setup(tmp: Path) -> dict[str, str]:
    scenario = tmp / "s.toml"
    scenario.write_text(SCENARIO.read_text())
    (tmp / "folder").mkdir()
    os.mkfifo(tmp / "fifo")
    (tmp / "link-to-folder").symlink_to(tmp / "folder")
    (tmp / "link-to-scenario").symlink_to(scenario)
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return {
        "scenario": str(scenario),
        "folder": str(tmp / "folder"),
        "fifo": str(tmp / "fifo"),
        "link-to-folder": str(tmp / "link-to-folder"),
        "link-to-scenario": str(tmp / "link-to-scenario"),
        "locked": str(locked / "out.json"),
        "missing": str(tmp / "no" / "out.json"),
        "same": str(tmp / "same.json"),
    }


CASES = [
    (["run", "{scenario}", "--json", "{scenario}"], "would overwrite an input"),
    (["run", "{scenario}", "--trace", "{link-to-scenario}"], "would overwrite an input"),
    (["run", "{scenario}", "--html", "{folder}"], "is a folder"),
    (["run", "{scenario}", "--html", "{link-to-folder}"], "is a folder"),
    (["run", "{scenario}", "--trace", "/dev/null"], "is not a regular file"),
    (["run", "{scenario}", "--json", "{fifo}"], "is not a regular file"),
    (["run", "{scenario}", "--json", "{missing}"], "does not exist"),
    (["run", "{scenario}", "--json", "{same}", "--html", "{same}"], "the same file as --json"),
    (
        ["explore", "{scenario}", "--budget", "1", "--engine", "local", "--out", "{scenario}"],
        "would overwrite an input",
    ),
    (["explore", "{scenario}", "--budget", "1", "--engine", "local", "--out", "{folder}"], "is a folder"),
    (
        ["sweep", "{scenario}", "--seeds", "1", "--engine", "local", "--html", "{fifo}"],
        "is not a regular file",
    ),
]
if os.geteuid() != 0:  # root writes anywhere
    CASES.append((["run", "{scenario}", "--json", "{locked}"], "cannot be written"))


@pytest.mark.parametrize(("argv", "words"), CASES, ids=[f"{a[0]} {a[-1]} {w}" for a, w in CASES])
def test_an_output_that_would_destroy_something_is_refused_before_the_run(
    argv: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = _setup(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and not p.is_symlink()}
    args = []
    for a in argv:
        for key, value in names.items():
            a = a.replace("{" + key + "}", value)
        args.append(a)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err
    after = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and not p.is_symlink()}
    assert after == before  # the scenario untouched, nothing new
    assert not (tmp_path / "same.json").exists()
