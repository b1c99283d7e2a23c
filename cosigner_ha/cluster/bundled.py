"""The scenarios that ship inside the package (`cosigner_ha/scenarios/*.toml`, package data), found by name.

`cosigner-ha run single-cosigner` and `cosigner-ha analyze single-cosigner` work wherever the package is
installed; a path to a file that exists always wins over a bundled name. In a checkout, `scenarios/` at
the repository root is a link to the same folder.
"""

from __future__ import annotations

from pathlib import Path

#: The folder of the bundled scenario files, installed with the package.
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
#: What `cosigner-ha run` runs without a SCENARIO.
DEFAULT_NAME = "active-active-passive"
DEFAULT_SCENARIO = SCENARIOS / f"{DEFAULT_NAME}.toml"


def bundled_names() -> list[str]:
    """The bundled scenarios' names (file stems), sorted."""
    return sorted(p.stem for p in SCENARIOS.glob("*.toml"))


def find_scenario(argument: str | Path) -> Path:
    """The file `argument` names: the path itself when it exists, else the bundled scenario of that name
    (`single-cosigner` or `single-cosigner.toml`), else the path unchanged, for the caller's error."""
    path = Path(argument)
    if path.exists() or len(path.parts) != 1:
        return path
    bundled = SCENARIOS / f"{path.name.removesuffix('.toml')}.toml"
    return bundled if bundled.is_file() else path


def missing(path: Path) -> str:
    """The error for a scenario that is neither a file nor (for a bare name) a bundled scenario."""
    if len(path.parts) != 1:
        return f"{path}: no such scenario file"
    return f"{path}: no such scenario file, nor a bundled scenario (bundled: {', '.join(bundled_names())})"


__all__ = ["DEFAULT_NAME", "DEFAULT_SCENARIO", "SCENARIOS", "bundled_names", "find_scenario", "missing"]
