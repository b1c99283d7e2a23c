"""A run's figures broken down by workspace, for scenarios with several (`[[workspaces]]`): each
workspace's transactions by status, signing latency and signatures per node, in the three renderings
(terminal table, `--json` key `workspaces`, `--html` table). A one-workspace run has none of this."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from cosigner_ha.cluster.report import fmt
from cosigner_ha.cluster.report.model import LatencyStats, latency_stats


@dataclass(frozen=True)
class WorkspaceFigures:
    """One workspace's share of a run."""

    name: str
    transactions: int
    by_status: Mapping[str, int]
    latency: LatencyStats
    signed_by: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "workspace": self.name,
            "transactions": self.transactions,
            "by_status": dict(self.by_status),
            "latency_seconds": self.latency.to_json(),
            "signed_by": dict(self.signed_by),
        }


@dataclass(frozen=True)
class TxOfWorkspace:
    """What the breakdown needs of one transaction: its workspace (from `submitted`), its end, and who
    signed it."""

    workspace: str
    status: str
    latency: float | None
    node: str | None


def workspace_figures(
    workspaces: Sequence[str], txs: Iterable[TxOfWorkspace]
) -> tuple[WorkspaceFigures, ...]:
    """Figures per workspace, in `workspaces` order (a workspace without transactions shows zeros)."""
    grouped: dict[str, list[TxOfWorkspace]] = {name: [] for name in workspaces}
    for tx in txs:
        grouped.setdefault(tx.workspace, []).append(tx)
    return tuple(
        WorkspaceFigures(
            name,
            len(items),
            dict(sorted(Counter(t.status for t in items).items())),
            latency_stats(t.latency for t in items if t.latency is not None),
            dict(sorted(Counter(t.node for t in items if t.node is not None).items())),
        )
        for name, items in grouped.items()
    )


def workspaces_table(figures: Sequence[WorkspaceFigures]) -> Table:
    """The terminal summary's "by workspace" table (one line per signing node, to stay narrow)."""
    table = Table(title="by workspace", title_justify="left", title_style="bold")
    table.add_column("workspace", no_wrap=True)
    table.add_column("transactions", overflow="fold")
    table.add_column("p50", justify="right", no_wrap=True)
    table.add_column("p99", justify="right", no_wrap=True)
    table.add_column("signed by", no_wrap=True)
    for f, row in zip(figures, _rows(figures), strict=True):
        name, total, completed, other, p50, p99, _ = row
        statuses = f"{total}: {completed} completed" + ("" if other == fmt.NONE else f"; {other}")
        signed = "\n".join(f"{node} {n}" for node, n in f.signed_by.items()) or fmt.NONE
        table.add_row(Text(name, style="bold"), Text(statuses), p50, p99, Text(signed))
    return table


def workspaces_html(figures: Sequence[WorkspaceFigures]) -> str:
    """The `--html` page's "by workspace" table."""
    head = "".join(
        f"<th>{h}</th>"
        for h in ("workspace", "transactions", "completed", "other", "p50", "p99", "signed by")
    )
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in _rows(figures)
    )
    return (
        f'<table class="workspaces">\n<caption>by workspace</caption>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def _rows(figures: Sequence[WorkspaceFigures]) -> list[list[str]]:
    rows = []
    for f in figures:
        completed = f.by_status.get("COMPLETED", 0)
        other = ", ".join(f"{n} {s}" for s, n in f.by_status.items() if s != "COMPLETED") or fmt.NONE
        signed = ", ".join(f"{node} {n}" for node, n in f.signed_by.items()) or fmt.NONE
        rows.append(
            [
                f.name,
                str(f.transactions),
                f"{completed} ({fmt.share(completed, f.transactions)})",
                other,
                fmt.seconds(f.latency.p50),
                fmt.seconds(f.latency.p99),
                signed,
            ]
        )
    return rows
