"""Reading a policy in either form, from a dict or a file, all or nothing."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import inputs
from . import fireblocks, fireblocks_v2, native
from .directory import Directory
from .errors import PolicyError
from .jsondoc import loads_strict
from .model import AMOUNT_MATCHES, Form, Policy, Rule
from .reading import describe, did_you_mean

Loader = Callable[[object, int, str, Directory], Rule]
_LOADERS: dict[Form, Loader] = {
    "native": native.load_native_rule,
    "fireblocks": fireblocks.load_fireblocks_rule,
    "v2": fireblocks_v2.load_v2_rule,
}
_FORM_NAMES: dict[Form, str] = {
    "native": "native key",
    "fireblocks": "Fireblocks v1 field",
    "v2": "Fireblocks v2 field",
}
#: A scenario's `[policy]` table (or a policy document) may say these beside its rules.
POLICY_KEYS = ("rules", "fireblocks_json", "amount_match")


def detect_form(rules: list[object], origin: str) -> Form:
    """Native, Fireblocks v1 or v2, from the keys only one form has; native when no rule says. A v2 rule is
    told by `policyEngineVersion` or `verdict` first (it shares `initiator`, `source`, `destination` with
    the native form and `type` with v1). Rules of two forms in one policy are refused, naming both."""
    seen: dict[Form, tuple[int, str]] = {}
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise PolicyError(
                f"expected a rule table/object, got {describe(rule)}", origin=origin, rule_index=i
            )
        v2 = next((k for k in rule if k in fireblocks_v2.OWN_KEYS), None)
        if v2 is not None:
            seen.setdefault("v2", (i, str(v2)))
            continue
        for key in rule:
            form: Form | None = None
            if key in fireblocks.OWN_KEYS:
                form = "fireblocks"
            elif key in native.OWN_KEYS:
                form = "native"
            if form is not None:
                seen.setdefault(form, (i, str(key)))
                break
    if len(seen) > 1:
        (fa, (ia, ka)), (fb, (ib, kb)) = sorted(seen.items(), key=lambda item: item[1][0])[:2]
        mix = "v1 and v2 rules" if {fa, fb} == {"fireblocks", "v2"} else "two forms"
        raise PolicyError(
            f"rule {ia} uses {_FORM_NAMES[fa]} {ka!r} and rule {ib} uses {_FORM_NAMES[fb]} {kb!r}; "
            f"the policy mixes {mix}, and a policy is written in one form",
            origin=origin,
            rule_index=ib,
            field=kb,
        )
    return next(iter(seen), "native")


def _unwrap(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """An export is `{"rules": [...]}`; API responses wrap it (`policy`, `draftResponse`) beside metadata
    and validation, which are not part of the policy."""
    for wrapper in ("policy", "draftResponse"):
        if "rules" not in data and isinstance(data.get(wrapper), Mapping):
            data = data[wrapper]
    return data


def policy_rules(source: Mapping[str, Any]) -> list[Any]:
    """The rules as written in a policy source (an export, a wrapped API response or a `[policy]` table):
    what a decision's rule index points into."""
    rules = _unwrap(source).get("rules")
    return list(rules) if isinstance(rules, list | tuple) else []


def _amount_match(source: Mapping[str, Any], origin: str) -> str:
    value = source.get("amount_match", "exceed")
    if value not in AMOUNT_MATCHES:
        hint = did_you_mean(value, AMOUNT_MATCHES) if isinstance(value, str) else ""
        raise PolicyError(
            f"expected one of {', '.join(AMOUNT_MATCHES)}, got {describe(value)}{hint}",
            origin=origin,
            field="amount_match",
        )
    return str(value)


def load_policy(
    source: Mapping[str, Any], directory: Directory, *, origin: str, base_dir: Path | None = None
) -> Policy:
    """From `{"rules": [...]}` in either form, or a scenario's `[policy]` table (which may instead say
    `fireblocks_json = "path"`, read relative to `base_dir`)."""
    if not isinstance(source, Mapping):
        raise PolicyError(f"expected a table/object with 'rules', got {describe(source)}", origin=origin)
    match = _amount_match(source, origin)
    if "fireblocks_json" in source:
        _known_keys(source, origin)
        if "rules" in source:
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
        return _with_match(load_policy_file(path, directory), match)
    inner = _unwrap(source)
    if inner is not source:  # an API response: its metadata and validation are not the policy
        source = {"rules": inner.get("rules", [])}
    _known_keys(source, origin)
    rules = source.get("rules", [])
    if not isinstance(rules, list):
        raise PolicyError(f"expected a list of rules, got {describe(rules)}", origin=origin, field="rules")
    form = detect_form(rules, origin)
    if form == "v2":
        _check_order(rules, origin)
    load = _LOADERS[form]
    loaded = tuple(load(raw, i, origin, directory) for i, raw in enumerate(rules))
    return Policy(loaded, origin, form, amount_match=match)


def _known_keys(source: Mapping[str, Any], origin: str) -> None:
    for key in source:
        if key not in POLICY_KEYS:
            raise PolicyError(
                f"unknown key{did_you_mean(str(key), POLICY_KEYS)}; expected one of {', '.join(POLICY_KEYS)}",
                origin=origin,
                field=str(key),
            )


def _with_match(policy: Policy, match: str) -> Policy:
    if match == policy.amount_match:
        return policy
    return Policy(policy.rules, policy.origin, policy.form, amount_match=match)


def _check_order(rules: list[Any], origin: str) -> None:
    """v2 rules may carry `index`; rules are evaluated in file order, so the indexes must agree with it."""
    last: tuple[int, Any] | None = None
    for i, rule in enumerate(rules):
        index = rule.get("index")
        if index is None:
            continue
        if isinstance(index, bool) or not isinstance(index, int | float):
            raise PolicyError(
                f"expected a number, got {describe(index)}", origin=origin, rule_index=i, field="index"
            )
        if last is not None and index <= last[1]:
            raise PolicyError(
                f"index {index} is not above rule {last[0]}'s index {last[1]}; rules are evaluated in file "
                "order, so sort them by index",
                origin=origin,
                rule_index=i,
                field="index",
            )
        last = (i, index)


def read_document(path: Path) -> dict[str, Any]:
    """A JSON or TOML file as a dict; PolicyError naming the file and the position of a syntax error."""
    origin = str(path)
    try:
        text = inputs.read_text(path, "policy file")
        suffix = path.suffix.lower()
        if suffix == ".json":
            data = loads_strict(text, origin)
        elif suffix == ".toml":
            try:
                data = inputs.parse_toml(text, origin)
            except tomllib.TOMLDecodeError as exc:
                raise PolicyError(f"invalid TOML: {exc}", origin=origin) from None
        else:
            raise PolicyError(f"expected a .json or .toml file, got {path.name!r}", origin=origin)
    except inputs.InputFileError as exc:
        raise PolicyError(exc.detail, origin=origin) from None
    if not isinstance(data, dict):
        raise PolicyError(f"expected an object at the top, got {describe(data)}", origin=origin)
    return data


def default_policy(api_users: Sequence[str], served: Collection[str]) -> dict[str, Any]:
    """What a workspace without a `[policy]` runs (docs/scenarios.md): one ALLOW rule, everything else
    `*`, designated signers every API user a node serves at the start, in the order they are declared."""
    signers = [name for name in api_users if name in served]
    rule: dict[str, Any] = {"action": "ALLOW"}
    if signers:
        rule["designated_signers"] = {"users": signers}
    return {"rules": [rule]}


def _scenario_default(data: Mapping[str, Any]) -> dict[str, Any]:
    """The default policy of a scenario file read as plain data (names only; the loader checked it)."""
    api_users = [u.get("name") for u in data.get("api_users", []) if isinstance(u, Mapping)]
    nodes = [n for n in data.get("nodes", []) if isinstance(n, Mapping)]
    served = {u for n in nodes for u in n.get("api_users", []) if isinstance(u, str)}
    return default_policy([u for u in api_users if isinstance(u, str)], served)


def load_policy_file(path: str | Path, directory: Directory) -> Policy:
    """A Fireblocks JSON export, a native policy (TOML or JSON), or a scenario file's `[policy]`."""
    path = Path(path)
    return load_policy_document(read_document(path), directory, path)


def load_policy_document(data: Mapping[str, Any], directory: Directory, path: Path) -> Policy:
    """`load_policy_file` of a document already read (`path` names it and anchors relative paths)."""
    origin = str(path)
    if path.suffix.lower() == ".json":
        inner = _unwrap(data)
        if "rules" not in inner:
            raise PolicyError("expected a JSON object with 'rules' (a policy export)", origin=origin)
        return load_policy({"rules": inner["rules"]}, directory, origin=origin)
    if "rules" in data:
        return load_policy(data, directory, origin=origin, base_dir=path.parent)
    if isinstance(data.get("policy"), Mapping):
        return load_policy(data["policy"], directory, origin=f"{origin} [policy]", base_dir=path.parent)
    if "policy" not in data and isinstance(data.get("workspace"), Mapping):  # as `run` does
        return load_policy(_scenario_default(data), directory, origin=f"{origin} (default policy)")
    raise PolicyError("expected [[rules]] or a [policy] section (as in a scenario file)", origin=origin)
