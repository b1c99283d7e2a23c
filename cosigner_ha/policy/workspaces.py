"""A scenario file with several workspaces (`[[workspaces]]`) seen one workspace at a time, as plain data:
what `policy lint` and `policy eval` need (each workspace has its own people, accounts and policy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import PolicyError

#: What a `[[workspaces]]` table holds besides its `[workspace]` keys.
SECTIONS = ("users", "api_users", "groups", "policy", "workload")


def workspace_documents(data: Mapping[str, Any], origin: str) -> list[tuple[str, dict[str, Any]]]:
    """Each workspace as a one-workspace scenario document: its `[workspace]` keys, people, policy and
    workloads, the nodes with only its API users, and the `policy` faults that name it."""
    tables = data.get("workspaces")
    if not isinstance(tables, list) or not tables:
        raise PolicyError("expected [[workspaces]] tables", origin=origin, field="workspaces")
    nodes = [n for n in data.get("nodes", []) if isinstance(n, Mapping)]
    faults = [f for f in data.get("faults", []) if isinstance(f, Mapping)]
    out = []
    for i, table in enumerate(tables):
        if not isinstance(table, Mapping) or not isinstance(table.get("name"), str):
            raise PolicyError("expected a table with a string name", origin=origin, field=f"workspaces[{i}]")
        name = table["name"]
        mine = {u["name"] for u in _entries(table, "api_users") if isinstance(u, Mapping) and _named(u)}
        doc: dict[str, Any] = {"workspace": {k: v for k, v in table.items() if k not in SECTIONS}}
        doc.update({k: table[k] for k in SECTIONS if k in table})
        doc["nodes"] = [
            {**n, "api_users": [u for u in _entries(n, "api_users") if isinstance(u, str) and u in mine]}
            for n in nodes
        ]
        doc["faults"] = [f for f in faults if f.get("action") == "policy" and f.get("workspace") == name]
        out.append((name, doc))
    return out


def _entries(table: Mapping[str, Any], key: str) -> list[Any]:
    """`table[key]` when it is a list: a malformed one is the one-workspace loader's to report, with its
    key path, not this split's to trip over."""
    value = table.get(key)
    return value if isinstance(value, list) else []


def _named(entry: Mapping[str, Any]) -> bool:
    return isinstance(entry.get("name"), str)


def people_of(doc: Mapping[str, Any]) -> set[str]:
    """The user and API user names of a one-workspace document."""
    return {
        str(p["name"])
        for key in ("users", "api_users")
        for p in doc.get(key, [])
        if isinstance(p, Mapping) and isinstance(p.get("name"), str)
    }
