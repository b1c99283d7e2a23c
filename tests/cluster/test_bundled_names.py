"""Bundled scenarios are package data, found by name by `run` and `analyze` (a real path always wins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.bundled import DEFAULT_SCENARIO, SCENARIOS, bundled_names, find_scenario


def test_the_bundled_scenarios_live_in_the_package() -> None:
    assert SCENARIOS.parent.name == "cosigner_ha" and SCENARIOS.is_dir()
    assert DEFAULT_SCENARIO.is_file() and "single-cosigner" in bundled_names()


@pytest.mark.parametrize("name", ["single-cosigner", "single-cosigner.toml"])
def test_a_name_finds_the_bundled_file(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_scenario(name) == SCENARIOS / "single-cosigner.toml"


def test_a_file_of_that_name_here_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "single-cosigner.toml").write_text("mine")
    assert find_scenario("single-cosigner.toml") == Path("single-cosigner.toml")
    assert find_scenario("sub/single-cosigner") == Path("sub/single-cosigner")  # a path is never a name


@pytest.mark.parametrize("command", ["run", "analyze"])
def test_an_unknown_name_exits_2_listing_the_bundled_ones(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([command, "single-cosigne"]) == 2
    err = capsys.readouterr().err
    assert "single-cosigne: no such scenario file, nor a bundled scenario" in err
    assert "single-cosigner" in err.split("bundled:")[1]
    assert list(tmp_path.iterdir()) == []


def test_analyze_takes_a_bundled_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", "single-cosigner", "--json"]) == 0
    assert '"single-cosigner"' in capsys.readouterr().out


def test_a_bundled_scenario_has_one_origin_however_it_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trace records the policy's origin: a bundled scenario's must not depend on the install folder."""
    from cosigner_ha.cluster import bundled

    monkeypatch.chdir(tmp_path)
    by_name = bundled.load(find_scenario("single-cosigner"))
    by_path = bundled.load(SCENARIOS / "single-cosigner.toml")
    assert by_name.origin == by_path.origin == "scenarios/single-cosigner.toml"
    assert by_name == by_path
