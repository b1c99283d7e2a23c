"""The `--html` page's tables (summary figures, why transactions did not complete, per workload and per
rule, faults, checks), as HTML strings; everything from the run is escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from cosigner_ha.cluster.report import fmt
from cosigner_ha.cluster.report.model import Breakdown, Check, RunReport
from cosigner_ha.cluster.report.palette import node_colours
from cosigner_ha.cluster.report.workspaces import workspaces_html


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(caption: str, header: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}>\n<caption>{escape(caption)}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _counts(counts: Mapping[str, int], total: int) -> list[list[str]]:
    rows = [
        [escape(k), f'<span class="num">{v}</span>', f'<span class="num">{fmt.share(v, total)}</span>']
        for k, v in counts.items()
    ]
    return rows or [['<span class="dim">none</span>', "", ""]]


def summary_tables(report: RunReport) -> str:
    total = report.transactions_total
    colours = node_colours(report.node_names())
    facts = [
        ["scenario", escape(report.scenario)],
        ["seed", str(report.seed)],
        ["trace hash", f"<code>{escape(report.trace_hash[:16])}…</code>"],
        ["simulated", escape(fmt.seconds(report.simulated_seconds))],
        ["wall", f"{report.wall_seconds:.2f} s"],
        ["speed-up", escape(fmt.speedup(report.speedup))],
        ["transactions", str(total)],
    ]
    latency = [
        [name, escape(fmt.seconds(getattr(report.latency, name)))] for name in ("p50", "p90", "p99", "max")
    ]
    signed_total = sum(report.signed_by.values())
    signers = [
        [
            f'<span class="swatch" style="background:{colours[n]}"></span>{escape(n)}',
            f'<span class="num">{report.signed_by.get(n, 0)}</span>',
            f'<span class="num">{fmt.share(report.signed_by.get(n, 0), signed_total)}</span>',
        ]
        for n in report.node_names()
    ]
    failovers = [
        [
            fmt.clock(f.at),
            f"{escape(f.from_node)} → {escape(f.to_node) if f.to_node else '<span class=fail>nobody</span>'}",
            escape(fmt.seconds(f.gap_seconds)),
        ]
        for f in report.failovers
    ] or [['<span class="dim">none</span>', "", ""]]
    refused = [
        [
            fmt.clock(e.at),
            f"#{e.index} {escape(e.label)}",
            f'<span class="fail">{escape(e.code)}</span>',
            escape(e.reason),
        ]
        for e in report.fault_errors
    ]
    return "\n".join(
        [
            _table("run", ["", ""], facts, "facts"),
            _table("by status", ["status", "count", "share"], _counts(report.by_status, total)),
            _table("by sub-status", ["sub-status", "count", "share"], _counts(report.by_sub_status, total)),
            _table("signing latency", ["", "seconds"], latency),
            _table("signed by", ["node", "count", "share"], signers),
            _table("failovers", ["at", "from → to", "gap"], failovers),
            *([_table("faults refused", ["at", "fault", "code", "reason"], refused)] if refused else []),
            *([workspaces_html(report.workspaces)] if report.workspaces else []),
        ]
    )


def outcome_tables(report: RunReport) -> str:
    """Why transactions did not complete, and how each workload and rule fared."""
    failures = [
        [
            f'<span class="num">{f.count}</span>',
            escape(f.status + (f"/{f.sub_status}" if f.sub_status else "")),
            escape(f.cause_label),
            f'<span class="dim">{escape(f.example)}</span>',
        ]
        for f in report.failures
    ] or [['<span class="dim">none</span>', "", "", ""]]

    def rows(breakdowns: Mapping[str, Breakdown]) -> list[list[str]]:
        return [
            [
                escape(name),
                f'<span class="num">{b.total}</span>',
                f'<span class="num">{b.completed}</span>',
                escape(", ".join(f"{n} {s}" for s, n in b.by_status.items() if s != "COMPLETED")),
                escape(", ".join(f"{n} {c}" for c, n in b.causes.items())),
                escape(fmt.seconds(b.latency.p99)),
            ]
            for name, b in breakdowns.items()
        ]

    header = ["", "submitted", "completed", "other ends", "causes", "p99"]
    faults = [
        [
            escape(
                fmt.clock(f.start)
                if f.instant
                else f"{fmt.clock(f.start)}–" + (fmt.clock(f.end) if f.end is not None else "end")
            ),
            escape(f.label),
            escape(", ".join(f.nodes)),
        ]
        for f in report.faults
    ] or [['<span class="dim">none</span>', "", ""]]
    return (
        '<section class="tables outcomes">\n'
        + "\n".join(
            [
                _table(
                    "why transactions did not complete", ["count", "status", "cause", "for example"], failures
                ),
                _table("by workload", header, rows(report.workloads)),
                _table("by policy rule", header, rows(report.rules)),
                _table("faults", ["when", "fault", "nodes"], faults),
            ]
        )
        + "\n</section>"
    )


def _result(check: Check) -> str:
    return '<span class="pass">PASS</span>' if check.ok else '<span class="fail">FAIL</span>'


def checks_table(report: RunReport) -> str:
    rows = [
        [kind, escape(name), _result(check), escape(check.detail)]
        for kind, checks in (("invariant", report.invariants), ("expectation", report.expectations))
        for name, check in checks.items()
    ]
    if not rows:
        return ""
    return (
        '<section class="checks">\n'
        + _table("invariants and expectations", ["kind", "check", "result", "detail"], rows)
        + "\n</section>"
    )
