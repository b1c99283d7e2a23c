"""The one atomic write (env/files.py): a reader sees the old file or the whole new one, mode 0644, and no
temporary file survives any failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.env import files
from cosigner_ha.env.files import FILE_MODE, atomic_writer, write_text_atomic


def _old(tmp_path: Path) -> Path:
    path = tmp_path / "report.json"
    path.write_text("old contents\n")
    path.chmod(0o600)
    return path


def test_writes_the_whole_file_with_mode_0644_whatever_the_umask(tmp_path: Path) -> None:
    mask = os.umask(0o077)
    try:
        written = write_text_atomic(tmp_path / "run.json", "new\n")
    finally:
        os.umask(mask)
    assert written.read_text() == "new\n"
    assert written.stat().st_mode & 0o777 == FILE_MODE == 0o644
    assert os.listdir(tmp_path) == ["run.json"]


def test_replaces_an_old_file_and_its_mode(tmp_path: Path) -> None:
    path = _old(tmp_path)
    write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_relative_path_is_written_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with atomic_writer("trace.jsonl", encoding="ascii") as sink:
        sink.write("{}\n")
    assert (tmp_path / "trace.jsonl").read_text() == "{}\n"


class Boom(Exception):
    pass


def _boom(*args: object, **kwargs: object) -> None:
    raise Boom("the disk said no")


@pytest.mark.parametrize("step", ["fsync", "fchmod", "replace"])
def test_a_failing_step_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = _old(tmp_path)
    monkeypatch.setattr(files.os, step, _boom)
    with pytest.raises(Boom):
        write_text_atomic(path, "new\n")
    monkeypatch.undo()
    assert path.read_text() == "old contents\n"
    assert os.listdir(tmp_path) == ["report.json"]


def test_an_error_inside_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    path = _old(tmp_path)
    with pytest.raises(Boom), atomic_writer(path) as handle:
        handle.write("half of the new ")
        raise Boom("the producer failed")
    assert path.read_text() == "old contents\n"
    assert os.listdir(tmp_path) == ["report.json"]


def test_an_interrupt_inside_the_block_removes_the_temporary(tmp_path: Path) -> None:
    path = _old(tmp_path)
    with pytest.raises(KeyboardInterrupt), atomic_writer(path) as handle:
        handle.write("half")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["report.json"]


def test_text_the_encoding_cannot_hold_fails_without_a_trace(tmp_path: Path) -> None:
    path = _old(tmp_path)
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "caf\u00e9", encoding="ascii")
    assert path.read_text() == "old contents\n"
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_missing_folder_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_text_atomic(tmp_path / "absent" / "run.json", "x")
    assert os.listdir(tmp_path) == []


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r")))
def test_what_is_written_is_what_is_read(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = write_text_atomic(Path(folder) / "f.txt", text)
        assert path.read_text(encoding="utf-8") == text
        assert os.listdir(folder) == ["f.txt"]
