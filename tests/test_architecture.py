"""Imports point down the table of DESIGN.md section 2, and nothing on the simulated path touches the world."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cosigner_ha"

# part -> the parts of ours it may import (DESIGN.md section 2)
ALLOWED: dict[str, set[str]] = {
    # the reading of hostile input files (size, kind, encoding, nesting): below everything, imports nothing
    "inputs": set(),
    # the exit statuses every command shares: below everything, imports nothing
    "exits": set(),
    "policy": {"inputs", "exits"},
    "mpc": set(),
    "wire": set(),
    # trio's deadline heap without a cancel scope: below everything, imports nothing; the simulated
    # clock (env) and the simulated network (net) both park tasks on it
    "sleeper": set(),
    "env": {"sleeper"},
    "net": {"inputs", "wire", "sleeper"},
    "saas_sim": {"inputs", "policy", "mpc", "wire", "net", "env"},
    "node": {"inputs", "mpc", "wire", "net", "env"},
    # the customer's reference callback handler: a server the node calls, never part of it; it reads the
    # node's RSA key helpers (the callback protocol's JWT keys)
    "handler": {"inputs", "node"},
    "cluster": {"inputs", "exits", "policy", "mpc", "wire", "net", "env", "saas_sim", "node", "handler"},
    "testing": {
        "inputs",
        "exits",
        "policy",
        "mpc",
        "wire",
        "net",
        "env",
        "saas_sim",
        "node",
        "handler",
        "cluster",
    },
    "cli": {"inputs", "exits", "cluster", "policy", "testing"},
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


# module -> names in it that read the wall clock or the OS random source
FORBIDDEN_CALLS: dict[str, set[str]] = {
    "time": {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"},
    "uuid": {"uuid1", "uuid4"},
    "os": {"urandom", "getrandom"},
}
FORBIDDEN_MODULES = {"secrets"}
# `random` only for its `Random` class, a generator the caller seeds (net's streams); never the global one
SEEDED_ONLY = {"random": {"Random"}}
SIMULATED_PATH = ("saas_sim", "node", "handler", "policy", "mpc", "wire", "net")


def world_touches(source: str) -> list[str]:
    """Where the code reads the wall clock or OS randomness, whatever name it imported them under:
    `time.time()`, `import time as t; t.time()`, `from time import time`, `from os import urandom as u`."""
    found: list[str] = []
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> a module of FORBIDDEN_CALLS
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in FORBIDDEN_MODULES:
                    found.append(f"{node.lineno}: imports {alias.name}")
                if alias.name in FORBIDDEN_CALLS or alias.name in SEEDED_ONLY:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level:
            module = node.module or ""
            if module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{node.lineno}: imports from {module}")
            for alias in node.names:
                forbidden = alias.name in FORBIDDEN_CALLS.get(module, set()) or alias.name == "*"
                if module in SEEDED_ONLY:
                    forbidden = alias.name not in SEEDED_ONLY[module]
                if forbidden and (module in FORBIDDEN_CALLS or module in SEEDED_ONLY):
                    found.append(f"{node.lineno}: from {module} import {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id)
            if module is None:
                continue
            if node.attr in FORBIDDEN_CALLS.get(module, set()) or (
                module in SEEDED_ONLY and node.attr not in SEEDED_ONLY[module]
            ):
                found.append(f"{node.lineno}: {node.value.id}.{node.attr} ({module}.{node.attr})")
    return found


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if _part_of(p) in SIMULATED_PATH], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_simulated_path_never_touches_the_world(path: Path) -> None:
    """DESIGN.md section 3: no wall clock, OS randomness or `secrets` in core logic; the env hands them out."""
    touches = world_touches(path.read_text())
    assert not touches, f"{path.relative_to(PACKAGE)} touches the world on the simulated path: {touches}"


@pytest.mark.parametrize(
    "source",
    [
        "import time\ntime.time()",
        "import time as t\nt.monotonic()",
        "from time import time\n",
        "from time import perf_counter as clock\n",
        "from os import urandom\n",
        "from os import urandom as u\n",
        "import os as o\no.urandom(8)",
        "import uuid\nuuid.uuid4()",
        "from uuid import uuid4 as new_id\n",
        "import secrets\n",
        "from secrets import token_bytes\n",
        "import random as r\nr.choice([1, 2])",
        "import random\nrandom.SystemRandom()",
        "from random import choice\n",
        "from time import *\n",
    ],
)
def test_the_check_sees_aliased_clock_and_randomness(source: str) -> None:
    assert world_touches(source), source


@pytest.mark.parametrize(
    "source",
    [
        "import time\ntime.sleep(1)",
        "from os import path\n",
        "def time(): ...\ntime()",
        "import os\nos.fspath('a')",
    ],
)
def test_the_check_lets_harmless_uses_pass(source: str) -> None:
    assert not world_touches(source), source


# names of the shared vocabulary: defined once, in policy/vocabulary.py, imported everywhere else
VOCABULARY = {
    "API_USER_NAME_MAX",
    "Role",
    "ApiUserRole",
    "WorkspaceEnv",
    "SIGNING_ROLES",
    "INITIATING_ROLES",
    "APPROVING_ROLES",
    "ADMIN_ROLES",
    "DELEGATE_ADMIN_ROLES",
    "CONSOLE_SIGNING_ROLES",
}


def test_the_vocabulary_is_defined_once() -> None:
    """Roles, workspace kinds and the API user name limit have one definition (issue 11, item 4)."""
    definitions: dict[str, list[str]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                if name in VOCABULARY:
                    definitions.setdefault(name, []).append(str(path.relative_to(PACKAGE)))
    assert definitions == {name: ["policy/vocabulary.py"] for name in VOCABULARY}
