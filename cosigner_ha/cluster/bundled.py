"""The scenarios that ship inside the package (`cosigner_ha/scenarios/*.toml`, package data), found by name.

`cosigner-ha run single-cosigner` and `cosigner-ha analyze single-cosigner` work wherever the package is
installed; a path to a file that exists always wins over a bundled name. In a checkout, `scenarios/` at
the repository root is a link to the same folder.
"""

from __future__ import annotations

from pathlib import Path

from cosigner_ha import inputs
from cosigner_ha.cluster.scenario import Scenario, load_scenario, load_scenario_text

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


def load(path: Path) -> Scenario:
    """Load a scenario file. A bundled one is named `scenarios/NAME.toml` wherever the package is installed
    and however it was named (by name, a relative or an absolute path): the trace records the policy's
    origin, so its hash would otherwise depend on the folder the package lives in."""
    if path.resolve().parent == SCENARIOS and path.is_file():
        text = inputs.read_text(path, "scenario file")
        return load_scenario_text(text, f"scenarios/{path.name}", base_dir=SCENARIOS)
    return load_scenario(path)


def missing(path: Path) -> str:
    """The error for a scenario that is neither a file nor (for a bare name) a bundled scenario."""
    if len(path.parts) != 1:
        return f"{path}: no such scenario file"
    return f"{path}: no such scenario file, nor a bundled scenario (bundled: {', '.join(bundled_names())})"


__all__ = [
    "DEFAULT_NAME",
    "DEFAULT_SCENARIO",
    "SCENARIOS",
    "bundled_names",
    "find_scenario",
    "load",
    "missing",
]
