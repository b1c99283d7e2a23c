"""`cosigner-ha analyze SCENARIO [--json]`; `cli.py` only wires it in.

Exit status: 0 every rule with designated signers can be signed with every node up and lint found no
error; 1 otherwise; 2 the scenario (or its policy) could not be read, with the reason on standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from cosigner_ha.cluster.analyze import LEVELS, Analysis, LevelOutcome, RuleAnalysis, analyze
from cosigner_ha.cluster.bundled import find_scenario, load, missing
from cosigner_ha.cluster.scenario import ScenarioError
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_OK
from cosigner_ha.exits import EXIT_FAILED as EXIT_PROBLEMS
from cosigner_ha.policy import PolicyError

LISTED = 3  # failure domains named in a cell before "+N more"
PLURALS = {"node": "nodes", "zone": "zones", "region": "regions", "provider": "providers"}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="without running: which nodes serve each rule, and whether it survives losing a node, zone, region, provider",
    )
    p.add_argument(
        "scenario", metavar="SCENARIO", help="a scenario file (TOML, version 1) or the name of a bundled one"
    )
    p.add_argument("--json", action="store_true", help="print the analysis as one JSON object")


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    try:
        path = find_scenario(args.scenario)
        if not path.exists():
            print(f"error: {missing(path)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        analysis = analyze(load(path))
    except (ScenarioError, PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(analysis.to_json(), indent=2, ensure_ascii=False))
    else:
        render_analysis(analysis, console or Console())
    return EXIT_OK if analysis.ok else EXIT_PROBLEMS


# -- rendering ----------------------------------------------------------------------------------------


def render_analysis(analysis: Analysis, console: Console) -> None:
    """The analysis; with several workspaces, each workspace's under its name, then the overall verdict."""
    if not analysis.workspaces:
        _render_one(analysis, console)
        return
    for name, part in analysis.workspaces:
        console.rule(Text(f"workspace {name}", style="bold"), align="left")
        _render_one(part, console)
        console.print()
    for shared in analysis.shared:
        console.print(_capacity_line(f"co-signer {shared.node}", shared.ok, shared.detail()))
    if analysis.shared:
        console.print()
    problems = [f"workspace {name}" for name, part in analysis.workspaces if not part.ok]
    problems += [f"co-signer {load.node} (shared)" for load in analysis.shared if not load.ok]
    verdict = "OK: every workspace's analysis passed" if analysis.ok else "PROBLEMS in " + ", ".join(problems)
    console.print(Text(verdict, style="bold green" if analysis.ok else "bold red"))


def _render_one(analysis: Analysis, console: Console) -> None:
    source = {"inline": "inline rules", "fireblocks": "a Fireblocks export", "default": "the default policy"}
    title = Text("HA analysis of ", style="bold").append(analysis.scenario, style="bold cyan")
    title.append(f" ({analysis.origin}, policy from {source[analysis.policy_source]})", style="dim")
    console.print(title)
    for level, _ in LEVELS:
        names = analysis.domains[level]
        line = Text(f"  {PLURALS[level]}: ", style="dim").append(", ".join(names) if names else "none")
        console.print(line)
    console.print()
    for rule in analysis.rules:
        console.print(_rule_block(rule))
        console.print()
    if not analysis.rules:
        console.print(Text("no rule designates signers: nothing to analyse", style="dim"))
    for rule_load in analysis.loads:
        console.print(_capacity_line(f"rule {rule_load.rule}", rule_load.ok, rule_load.detail()))
    if analysis.loads:
        console.print()
    for skipped in analysis.skipped:
        console.print(
            Text(f"rule {skipped.index} ({skipped.action}) not analysed: {skipped.reason}", style="dim")
        )
    console.print()
    _findings(analysis, console)
    console.print()
    console.print(_verdict(analysis))


def _capacity_line(what: str, ok: bool, detail: str) -> Text:
    mark, style = ("✓", "green") if ok else ("✗ OVER CAPACITY", "bold red")
    line = Text(f"{what} capacity: ", style="bold").append(mark, style=style)
    return line.append(f"  {detail}", style="" if ok else "red")


def _rule_block(rule: RuleAnalysis) -> Group:
    heading = Text(f"rule {rule.index}", style="bold").append(f"  {rule.action}  ")
    heading.append_text(_status(rule))
    if rule.description:
        heading.append(f"  {rule.description}", style="dim")
    block = Table.grid(padding=(0, 2))
    block.add_column(no_wrap=True)
    block.add_column()
    block.add_row(Text("  signers", style="dim"), _signers_cell(rule))
    for level, _ in LEVELS:
        outcome = rule.outcome(level)
        if outcome is not None:
            block.add_row(Text(f"  lose any {level}", style="dim"), _outcome_cell(outcome))
    if rule.status != "ok":
        block.add_row(Text("  why", style="dim"), Text(rule.detail, style="red" if not rule.signable else ""))
    for note in rule.notes:
        block.add_row(Text("  note", style="yellow"), Text(note))
    return Group(heading, block)


def _status(rule: RuleAnalysis) -> Text:
    labels = {
        "ok": ("signable with every node up: " + rule.detail, "green"),
        "console-signers": ("signed by console users", "green"),
        "fails-by-design": ("FAILS BY DESIGN", "bold red"),
        "unsignable": ("NOT SIGNABLE even with every node up", "bold red"),
    }
    label, style = labels[rule.status]
    return Text(label, style=style)


def _signers_cell(rule: RuleAnalysis) -> Text:
    if rule.status == "console-signers":
        return Text(", ".join(rule.designated_signers) + " (console users)")
    nodes = {n.name: n for n in rule.nodes}
    text = Text()
    for i, (user, serving) in enumerate(rule.signers.items()):
        if i:
            text.append("\n")
        text.append(f"{user} → ")
        if not serving:
            text.append("no node", style="red")
        for j, name in enumerate(serving):
            text.append(", " if j else "").append(name, style="cyan")
            node = nodes.get(name)
            if node is not None:
                text.append(f" ({node.site}" + (", standby)" if node.standby else ")"), style="dim")
    return text


def _outcome_cell(outcome: LevelOutcome) -> Text:
    if outcome.breaking:
        return Text("✗ breaks when losing ", style="bold red").append(_names(outcome.breaking), style="red")
    if outcome.standby_only:
        text = Text("✓ survives", style="green")
        return text.append(", on standby nodes alone after losing ", style="yellow").append(
            _names(outcome.standby_only), style="yellow"
        )
    return Text("✓ survives", style="green")


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" +{len(names) - LISTED} more" if len(names) > LISTED else "")


def _findings(analysis: Analysis, console: Console) -> None:
    if not analysis.findings:
        console.print(Text("lint: no findings", style="green"))
        return
    table = Table(title="policy lint", title_justify="left", title_style="bold")
    table.add_column("rule", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("code / field", no_wrap=True)
    table.add_column("message", overflow="fold", min_width=24)
    for f in analysis.findings:
        style = "bold red" if f.severity == "error" else "yellow"
        code = f.code if f.field is None else f"{f.code}\n{f.field}"
        rule = "-" if f.rule is None else str(f.rule)
        if f.policy is not None:  # a policy a `policy` fault publishes
            rule = f"{f.policy}\nrule {rule}"
        table.add_row(rule, f.severity, Text(code), Text(f.message), style=style)
    console.print(table)


def _verdict(analysis: Analysis) -> Text:
    problems = []
    if analysis.unsignable:
        rules = ", ".join(str(r.index) for r in analysis.unsignable)
        problems.append(f"rule {rules} cannot be signed even with every node up")
    if analysis.overloaded:
        rules = ", ".join(str(load.rule) for load in analysis.overloaded)
        problems.append(f"rule {rules} offered more than its co-signers can sign")
    if analysis.lint_errors:
        problems.append(f"{analysis.lint_errors} lint error{'s' if analysis.lint_errors != 1 else ''}")
    if problems:
        return Text("PROBLEMS: " + "; ".join(problems), style="bold red")
    weak = []
    for rule in analysis.rules:
        first = next((o for o in rule.outcomes if not o.ok), None)
        if first is not None:
            weak.append(f"rule {rule.index} breaks when a {first.level} is lost")
    if weak:
        return Text("OK, but " + "; ".join(weak), style="bold yellow")
    if not analysis.rules:
        return Text("OK: no rule designates signers", style="bold green")
    verdict = Text(
        "OK: every rule survives the loss of any node, zone, region or provider", style="bold green"
    )
    if any(o.standby_only for r in analysis.rules for o in r.outcomes):
        verdict.append(" (some losses leave only standby nodes)", style="green")
    return verdict
