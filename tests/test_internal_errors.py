"""A bug that reaches the top of a command ends in a few lines and exit 70, with the traceback kept in a file
for the report; COSIGNER_HA_TRACEBACK=1 lets it through for debugging."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from cosigner_ha import cli
from cosigner_ha.cluster import commands_run
from cosigner_ha.exits import EXIT_INTERNAL


def _explode(args: argparse.Namespace) -> int:
    raise AssertionError("the deadline heap is out of step")


def test_a_bug_is_reported_in_a_few_lines_with_the_traceback_in_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(commands_run, "run", _explode)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("COSIGNER_HA_TRACEBACK", raising=False)
    monkeypatch.setattr("tempfile.tempdir", None)  # TMPDIR is read again

    assert cli.main(["run", "scenario.toml"]) == EXIT_INTERNAL

    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "internal error: cosigner-ha run failed: AssertionError: the deadline heap is out of step" in err
    assert "a bug in cosigner-ha, not in what it was given" in err
    written = re.search(r"the traceback is in (\S+)\.", err)
    assert written is not None, err
    report = Path(written.group(1))
    assert report.parent == tmp_path
    text = report.read_text()
    assert "Traceback (most recent call last)" in text and "_explode" in text


def test_with_cosigner_ha_traceback_the_exception_goes_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands_run, "run", _explode)
    monkeypatch.setenv("COSIGNER_HA_TRACEBACK", "1")
    with pytest.raises(AssertionError, match="out of step"):
        cli.main(["run", "scenario.toml"])


def test_usage_errors_and_help_still_exit_as_argparse_decides(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["no-such-command"])
    assert caught.value.code == 2
    assert "internal error" not in capsys.readouterr().err
