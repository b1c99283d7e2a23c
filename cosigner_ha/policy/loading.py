"""Reading a policy in either form, from a dict or a file, all or nothing."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import fireblocks, native
from .directory import Directory
from .errors import PolicyError
from .model import Form, Policy, Rule
from .reading import describe

Loader = Callable[[object, int, str, Directory], Rule]
_LOADERS: dict[Form, Loader] = {
    "native": native.load_native_rule,
    "fireblocks": fireblocks.load_fireblocks_rule,
}


def detect_form(rules: list[object], origin: str) -> Form:
    """Native or Fireblocks, from the keys only one form has (`action`, `asset` and `amount` are in both);
    native when no rule says. Rules of both forms in one policy are refused."""
    seen: dict[Form, tuple[int, str]] = {}
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise PolicyError(
                f"expected a rule table/object, got {describe(rule)}", origin=origin, rule_index=i
            )
        for key in rule:
            form: Form | None = None
            if key in fireblocks.OWN_KEYS:
                form = "fireblocks"
            elif key in native.OWN_KEYS:
                form = "native"
            if form is not None:
                seen.setdefault(form, (i, str(key)))
    if len(seen) == 2:
        (fi, fkey), (ni, nkey) = seen["fireblocks"], seen["native"]
        raise PolicyError(
            f"rule {fi} uses Fireblocks field {fkey!r} and rule {ni} uses native key {nkey!r}; "
            "a policy is written in one form",
            origin=origin,
            rule_index=max(fi, ni),
            field=fkey if fi > ni else nkey,
        )
    return "fireblocks" if "fireblocks" in seen else "native"


def load_policy(
    source: Mapping[str, Any], directory: Directory, *, origin: str, base_dir: Path | None = None
) -> Policy:
    """From `{"rules": [...]}` in either form, or a scenario's `[policy]` table (which may instead say
    `fireblocks_json = "path"`, read relative to `base_dir`)."""
    if not isinstance(source, Mapping):
        raise PolicyError(f"expected a table/object with 'rules', got {describe(source)}", origin=origin)
    if "fireblocks_json" in source:
        if set(source) != {"fireblocks_json"}:
            raise PolicyError(
                "give either inline rules or fireblocks_json, not both",
                origin=origin,
                field="fireblocks_json",
            )
        ref = source["fireblocks_json"]
        if not isinstance(ref, str) or not ref:
            raise PolicyError(
                f"expected the path of an exported policy, got {describe(ref)}",
                origin=origin,
                field="fireblocks_json",
            )
        path = Path(ref) if base_dir is None else base_dir / ref
        return load_policy_file(path, directory)
    for key in source:
        if key != "rules":
            raise PolicyError(
                "unknown key; expected 'rules' or 'fireblocks_json'", origin=origin, field=str(key)
            )
    rules = source.get("rules", [])
    if not isinstance(rules, list):
        raise PolicyError(f"expected a list of rules, got {describe(rules)}", origin=origin, field="rules")
    form = detect_form(rules, origin)
    load = _LOADERS[form]
    return Policy(tuple(load(raw, i, origin, directory) for i, raw in enumerate(rules)), origin, form)


def read_document(path: Path) -> dict[str, Any]:
    """A JSON or TOML file as a dict; PolicyError naming the file and the position of a syntax error."""
    origin = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(
            f"cannot read the file: {exc.strerror if isinstance(exc, OSError) else exc}", origin=origin
        ) from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(
                f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", origin=origin
            ) from None
    elif suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"invalid TOML: {exc}", origin=origin) from None
    else:
        raise PolicyError(f"expected a .json or .toml file, got {path.name!r}", origin=origin)
    if not isinstance(data, dict):
        raise PolicyError(f"expected an object at the top, got {describe(data)}", origin=origin)
    return data


def load_policy_file(path: str | Path, directory: Directory) -> Policy:
    """A Fireblocks JSON export, a native policy (TOML or JSON), or a scenario file's `[policy]`."""
    path = Path(path)
    data = read_document(path)
    origin = str(path)
    if path.suffix.lower() == ".json":
        # An export is `{"rules": [...]}`; API responses wrap it (`policy`, `draftResponse`) beside
        # metadata and validation, which are not part of the policy.
        for wrapper in ("policy", "draftResponse"):
            if "rules" not in data and isinstance(data.get(wrapper), Mapping):
                data = data[wrapper]
        if "rules" not in data:
            raise PolicyError("expected a JSON object with 'rules' (a policy export)", origin=origin)
        return load_policy({"rules": data["rules"]}, directory, origin=origin)
    if "rules" in data:
        return load_policy(data, directory, origin=origin, base_dir=path.parent)
    if isinstance(data.get("policy"), Mapping):
        return load_policy(data["policy"], directory, origin=f"{origin} [policy]", base_dir=path.parent)
    raise PolicyError("expected [[rules]] or a [policy] section (as in a scenario file)", origin=origin)
