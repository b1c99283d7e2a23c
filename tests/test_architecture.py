"""Imports point down the table of DESIGN.md section 2, and nothing on the simulated path touches the world."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cosigner_ha"

# part -> the parts of ours it may import (DESIGN.md section 2)
ALLOWED: dict[str, set[str]] = {
    "policy": set(),
    "mpc": set(),
    "wire": set(),
    "env": set(),
    "net": {"wire"},
    "saas_sim": {"policy", "mpc", "wire", "net", "env"},
    "node": {"mpc", "wire", "net", "env"},
    "cluster": {"policy", "mpc", "wire", "net", "env", "saas_sim", "node"},
    "testing": {"policy", "mpc", "wire", "net", "env", "saas_sim", "node", "cluster"},
    "cli": {"cluster", "policy", "testing"},
}


def _part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_parts(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(PACKAGE).with_suffix("")
    package = ["cosigner_ha", *rel.parts[:-1]]  # the package a relative import starts from
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
        for name in names:
            bits = name.split(".")
            if bits[0] == "cosigner_ha" and len(bits) > 1:
                found.add(bits[1])
    found.discard(_part_of(path))
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "__init__.py")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_only(path: Path) -> None:
    part = _part_of(path)
    assert part in ALLOWED, f"{path}: {part!r} is not a part of DESIGN.md section 2"
    wrong = _imported_parts(path) - ALLOWED[part]
    assert not wrong, (
        f"{path.relative_to(PACKAGE)} ({part}) imports {sorted(wrong)}; allowed: {sorted(ALLOWED[part])}"
    )


FORBIDDEN_CALLS = {("time", "time"), ("time", "monotonic"), ("uuid", "uuid4"), ("os", "urandom")}
SIMULATED_PATH = ("saas_sim", "node", "policy", "mpc", "wire")


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if _part_of(p) in SIMULATED_PATH], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_simulated_path_never_touches_the_world(path: Path) -> None:
    """DESIGN.md section 3: no wall clock, OS randomness or `secrets` in core logic; the env hands them out."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert "secrets" not in mods, f"{path}: imports secrets"
            assert "random" not in mods, f"{path}: imports the global random module"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in FORBIDDEN_CALLS, (
                f"{path}:{node.lineno}: {node.value.id}.{node.attr} on the simulated path"
            )
