"""`cosigner-ha policy lint` and `cosigner-ha policy eval`; `cli.py` only wires them in."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import inputs
from ..exits import EXIT_BAD_INPUT, EXIT_OK
from ..exits import EXIT_FAILED as EXIT_FINDINGS
from .directory import Directory
from .engine import PolicyEngine
from .errors import PolicyError
from .jsondoc import loads_strict
from .lint import ERROR, lint
from .loading import load_policy, load_policy_document, load_policy_file, read_document
from .model import Policy
from .transaction import Transaction
from .validation import validate
from .workspaces import people_of, workspace_documents


def register(subparsers: Any) -> None:
    """Add `policy lint` and `policy eval` to the top-level subparsers."""
    policy = subparsers.add_parser("policy", help="lint or evaluate a Transaction Authorization Policy")
    sub = policy.add_subparsers(dest="policy_command", required=True, metavar="{lint,eval}")
    source_help = "a Fireblocks JSON export, a native policy (TOML/JSON), or a scenario file"
    scenario_help = (
        "scenario file whose workspace resolves names, ids, roles and prices (and nodes, for lint)"
    )

    p = sub.add_parser("lint", help="validate the policy and list warnings; exit 1 when there are errors")
    p.add_argument("policy", metavar="POLICY", help=source_help)
    p.add_argument("--scenario", metavar="FILE", help=scenario_help)
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(policy_handler=run_lint)

    p = sub.add_parser("eval", help="decide one transaction and print the decision as JSON")
    p.add_argument("policy", metavar="POLICY", help=source_help)
    p.add_argument("--tx", required=True, metavar="JSON", help="the transaction as a JSON object (or @FILE)")
    p.add_argument("--scenario", metavar="FILE", help=scenario_help)
    p.add_argument("--history", metavar="FILE", help="JSON Lines of earlier transactions, in time order")
    p.set_defaults(policy_handler=run_eval)


def run(args: argparse.Namespace) -> int:
    try:
        code: int = args.policy_handler(args)
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return code


def _workspace(policy_path: str, scenario_path: str | None) -> tuple[Directory, dict[str, list[str]] | None]:
    """The directory (and node topology) from --scenario, else from POLICY when it is a scenario file."""
    path = Path(scenario_path) if scenario_path else Path(policy_path)
    if scenario_path is None and path.suffix.lower() != ".toml":
        return Directory.permissive(), None
    data = read_document(path)
    if scenario_path is None and "workspace" not in data:
        return Directory.permissive(), None
    return Directory.from_scenario(data, origin=str(path)), _topology(data, str(path))


def _topology(data: Mapping[str, Any], origin: str) -> dict[str, list[str]] | None:
    nodes = data.get("nodes")
    if nodes is None:
        return None
    if not isinstance(nodes, list):
        raise PolicyError("expected an array of tables [[nodes]]", origin=origin, field="nodes")
    topology: dict[str, list[str]] = {}
    for i, node in enumerate(nodes):
        if not isinstance(node, Mapping) or not isinstance(node.get("name"), str):
            raise PolicyError("expected a table with a string name", origin=origin, field=f"nodes[{i}].name")
        users = node.get("api_users", [])
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise PolicyError(
                "expected a list of API user names", origin=origin, field=f"nodes[{i}].api_users"
            )
        topology[node["name"]] = list(users)
    return topology


def _load(args: argparse.Namespace) -> tuple[Policy, Directory, dict[str, list[str]] | None]:
    directory, topology = _workspace(args.policy, args.scenario)
    return load_policy_file(args.policy, directory), directory, topology


def fault_policies(
    path: Path, directory: Directory, data: Mapping[str, Any] | None = None
) -> list[tuple[str, Policy]]:
    """The policies a scenario file's `policy` faults publish (`[[faults]] action = "policy"`), each with
    `faults[i]`; they keep the workspace's `[policy] amount_match`. `data`: the document, already read."""
    if path.suffix.lower() != ".toml":
        return []
    data = read_document(path) if data is None else data
    faults = data.get("faults", [])
    section = data.get("policy")
    match = section.get("amount_match") if isinstance(section, Mapping) else None
    found = []
    for i, fault in enumerate(faults if isinstance(faults, list) else []):
        if isinstance(fault, Mapping) and fault.get("action") == "policy":
            source: dict[str, Any] = {k: fault[k] for k in ("rules", "fireblocks_json") if k in fault}
            if match is not None:
                source["amount_match"] = match
            where = f"faults[{i}]"
            origin = f"{path} {where}"
            found.append((where, load_policy(source, directory, origin=origin, base_dir=path.parent)))
    return found


def _several(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """The workspaces of POLICY when it is a scenario file with `[[workspaces]]` (and no --scenario)."""
    path = Path(args.policy)
    if args.scenario is not None or path.suffix.lower() != ".toml":
        return []
    data = read_document(path)
    return workspace_documents(data, str(path)) if "workspaces" in data else []


def _lint_workspaces(args: argparse.Namespace, several: list[tuple[str, dict[str, Any]]]) -> int:
    """Each workspace's policy (and its `policy` faults') linted with that workspace's names."""
    path, errors = Path(args.policy), 0
    reports = []
    for name, doc in several:
        directory = Directory.from_scenario(doc, origin=f"{path} workspace {name}")
        topology = _topology(doc, str(path))
        policy = load_policy_document(doc, directory, path)
        findings = [replace(f, policy=f"workspace {name}") for f in lint(policy, directory, topology)]
        for where, published in fault_policies(path, directory, doc):
            findings.extend(
                replace(f, policy=f"workspace {name} {where}") for f in lint(published, directory, topology)
            )
        errors += sum(1 for f in findings if f.severity == ERROR)
        reports.append((name, policy, findings))
    if args.json:
        print(
            json.dumps(
                {
                    "workspaces": [
                        {
                            "workspace": name,
                            "policy": policy.origin,
                            "form": policy.form,
                            "rules": len(policy.rules),
                            "findings": [f.to_dict() for f in findings],
                        }
                        for name, policy, findings in reports
                    ]
                },
                indent=2,
            )
        )
    else:
        console = Console()
        for name, policy, findings in reports:
            count = len(policy.rules)
            console.print(
                f"workspace {name}: {policy.origin}: {count} rule{'' if count == 1 else 's'} ({policy.form} "
                f"form), {len(findings)} finding(s)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            for f in findings:
                rule = "-" if f.rule is None else str(f.rule)
                console.print(
                    f"  {f.policy} rule {rule}: {f.severity} {f.code}: {f.message}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
        console.print(f"{errors} error(s)", markup=False, highlight=False)
    return EXIT_FINDINGS if errors else EXIT_OK


def run_lint(args: argparse.Namespace) -> int:
    if several := _several(args):
        return _lint_workspaces(args, several)
    policy, directory, topology = _load(args)
    findings = lint(policy, directory, topology)
    for where, published in fault_policies(Path(args.policy), directory):
        findings.extend(replace(f, policy=where) for f in lint(published, directory, topology))
    errors = sum(1 for f in findings if f.severity == ERROR)
    if args.json:
        report = {
            "policy": policy.origin,
            "form": policy.form,
            "rules": len(policy.rules),
            "validation": validate(policy, directory).to_dict(),
            "findings": [f.to_dict() for f in findings],
        }
        print(json.dumps(report, indent=2))
    else:
        console = Console()
        count = len(policy.rules)
        summary = f"{policy.origin}: {count} rule{'' if count == 1 else 's'} ({policy.form} form)"
        if not findings:
            console.print(f"{summary}: no findings", markup=False, highlight=False, soft_wrap=True)
        else:
            table = Table(title=escape(summary), title_justify="left")
            table.add_column("rule", no_wrap=True)  # "faults[i]" above it: a policy a fault publishes
            table.add_column("severity", no_wrap=True)
            table.add_column("code / field", overflow="fold", max_width=32)
            table.add_column("message", overflow="fold", min_width=24)
            for f in findings:
                style = "bold red" if f.severity == ERROR else "yellow"
                code = escape(f.code if f.field is None else f"{f.code}\n{f.field}")
                rule = "-" if f.rule is None else str(f.rule)
                if f.policy is not None:
                    rule = f"{f.policy}\nrule {rule}"
                table.add_row(rule, f.severity, code, escape(f.message), style=style)
            console.print(table)
            warnings = len(findings) - errors
            console.print(f"{errors} error(s), {warnings} warning(s)", markup=False, highlight=False)
    return EXIT_FINDINGS if errors else EXIT_OK


def _read_tx(text: str) -> tuple[object, str]:
    origin = "--tx"
    if text.startswith("@"):
        path = Path(text[1:])
        origin = str(path)
        try:
            text = inputs.read_text(path, "transaction file")
        except inputs.InputFileError as exc:
            raise PolicyError(exc.detail, origin=origin) from None
    expected = "an object with initiator, operation, asset, amount, source, destination"
    return loads_strict(text, origin, expected=expected), origin


def _read_history(path: Path, directory: Directory) -> list[Transaction]:
    try:
        # JSON Lines end at "\n" only (a "\r" before it is JSON whitespace): `splitlines` would also split
        # at U+2028 and other separators that are valid, raw, inside a JSON string
        lines = inputs.read_text(path, "history file").split("\n")
    except inputs.InputFileError as exc:
        raise PolicyError(exc.detail, origin=str(path)) from None
    history: list[Transaction] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        origin = f"{path} line {number}"
        data = loads_strict(line, origin, one_line=True)
        tx = Transaction.from_dict(data, origin=origin)
        directory.check_transaction(tx, origin=origin)
        if history and tx.at < history[-1].at:
            raise PolicyError(
                f"at {tx.at} is earlier than the line before ({history[-1].at}); history is in time order",
                origin=origin,
                field="at",
            )
        history.append(tx)
    return history


def run_eval(args: argparse.Namespace) -> int:
    data, origin = _read_tx(args.tx)
    if several := _several(args):  # the transaction is decided in its initiator's workspace
        initiator = data.get("initiator") if isinstance(data, Mapping) else None
        found = [(name, doc) for name, doc in several if initiator in people_of(doc)]
        if not found:
            names = ", ".join(name for name, _ in several)
            raise PolicyError(
                f"initiator {initiator!r} is no user or API user of any workspace ({names}); expected one "
                "of theirs: a transaction is decided in its initiator's workspace",
                origin=origin,
                field="initiator",
            )
        name, doc = found[0]
        directory = Directory.from_scenario(doc, origin=f"{args.policy} workspace {name}")
        policy = load_policy_document(doc, directory, Path(args.policy))
    else:
        policy, directory, _ = _load(args)
    tx = Transaction.from_dict(data, origin=origin)
    directory.check_transaction(tx, origin=origin)
    history: Sequence[Transaction] = _read_history(Path(args.history), directory) if args.history else ()
    if history and tx.at < history[-1].at:
        raise PolicyError(
            f"at {tx.at} is earlier than the last transaction of the history ({history[-1].at})",
            origin=origin,
            field="at",
        )
    engine = PolicyEngine(policy, directory)
    for past in history:
        engine.decide_and_record(past)
    print(json.dumps(engine.decide(tx).to_json()))
    return EXIT_OK
