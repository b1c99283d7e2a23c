"""How a sweep is shown: a terminal summary with drawn distributions, a JSON file and an HTML page.

The distributions are drawn, not listed: block histograms in the terminal, plotly histograms and empirical
CDFs in the page (the plotting library the run report already uses, imported only when a page is written).
Failing seeds are listed with the exact command that replays each.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cosigner_ha.env.files import write_text_atomic
from cosigner_ha.testing.sweep import Distribution, SweepResult

#: Failing seeds listed in the terminal (all of them are in --json and --html).
SHOW_FAILING = 15
HIST_BINS = 10
BLOCKS = " ▁▂▃▄▅▆▇█"

_LABELS = {
    "failover_gap_seconds": ("worst failover gap per seed", "s"),
    "latency_p99_seconds": ("p99 signing latency per seed", "s"),
    "completion_ratio": ("completion ratio per seed", ""),
}
#: The same, short enough for an 80-column terminal.
_SHORT = {
    "failover_gap_seconds": "failover gap",
    "latency_p99_seconds": "p99 latency",
    "completion_ratio": "completed",
}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3g} s" if value < 100 else f"{value:,.0f} s"
    return f"{value:.1%}" if unit == "" else f"{value:g}"


def histogram(values: Sequence[float], bins: int = HIST_BINS) -> tuple[list[int], float, float]:
    """Counts of `values` in `bins` equal bins between their min and max."""
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / width))] += 1
    return counts, low, high


def _spark(values: Sequence[float]) -> str:
    if not values:
        return ""
    counts, _, _ = histogram(values)
    top = max(counts)
    return "".join(BLOCKS[round(c / top * (len(BLOCKS) - 1))] if c else "·" for c in counts)


def _values(result: SweepResult, key: str) -> list[float]:
    if key == "failover_gap_seconds":
        return [g for r in result.seeds if (g := r.worst_failover) is not None]
    if key == "latency_p99_seconds":
        return [r.latency_p99 for r in result.seeds if r.latency_p99 is not None]
    return [c for r in result.seeds if (c := r.completion_ratio) is not None]


def render_terminal(result: SweepResult, console: Console) -> None:
    verdict = "PASSED" if not result.failed else "FAILED"
    style = "green" if not result.failed else "red"
    seed_seconds = sum(r.wall_seconds for r in result.seeds)
    head = Text.assemble(
        (f"{len(result.seeds):,} seeds", "bold"),
        f" · {result.passed:,} passed · ",
        (f"{len(result.failed):,} failed", style),
        f" · engine {result.engine} ({result.workers} worker{'s' if result.workers != 1 else ''})"
        f" · {result.wall_seconds:.1f} s wall for {seed_seconds:.1f} s of runs",
    )
    console.print(Panel(head, title=f"cosigner-ha sweep: {result.scenario}", title_align="left"))

    dist = Table(
        title="per seed: worst failover gap, p99 signing latency, completed share",
        title_justify="left",
        caption=f"histogram: {HIST_BINS} bins from min to max, · empty",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for col in ("figure", "n", "min", "p50", "p90", "p99", "max", "histogram"):
        dist.add_column(col, justify="left" if col in ("figure", "histogram") else "right", no_wrap=True)
    for key, d in result.distributions().items():
        unit = _LABELS[key][1]
        dist.add_row(
            _SHORT[key],
            f"{d.n:,}",
            *(_fmt(v, unit) for v in (d.min, d.p50, d.p90, d.p99, d.max)),
            _spark(_values(result, key)),
        )
    console.print(dist)
    untaken = result.untaken_failovers()
    if untaken:
        console.print(f"[red]{untaken} seed(s) lost a node whose work nobody took over[/red]")

    checks = result.check_failures()
    if checks:
        table = Table(title="checks that failed", title_justify="left")
        table.add_column("check")
        table.add_column("seeds", justify="right")
        table.add_column("share", justify="right")
        for name, n in checks.items():
            table.add_row(name, f"{n:,}", f"{n / len(result.seeds):.1%}")
        console.print(table)
        failing = Table(title="failing seeds (replay each with the command)", title_justify="left")
        failing.add_column("seed", justify="right")
        failing.add_column("failed checks")
        failing.add_column("replay")
        for r in result.failed[:SHOW_FAILING]:
            failing.add_row(str(r.seed), ", ".join(r.failed_checks), result.replay_command(r.seed))
        console.print(failing)
        if len(result.failed) > SHOW_FAILING:
            console.print(
                f"[dim]... and {len(result.failed) - SHOW_FAILING} more (see --json or --html)[/dim]"
            )
    console.print(
        Group(
            Text(f"{verdict}: {result.passed:,} of {len(result.seeds):,} seeds held", style=f"bold {style}")
        )
    )


def json_text(result: SweepResult) -> str:
    return json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"


def write_json(result: SweepResult, path: str | os.PathLike[str]) -> Path:
    return write_text_atomic(path, json_text(result))


def figure_dict(result: SweepResult) -> dict[str, Any]:
    """Histogram and empirical CDF of each distribution, one row per figure."""
    keys = list(_LABELS)
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"height": 300 * len(keys), "showlegend": False, "margin": {"t": 40}}
    gap = 0.08
    height = (1 - gap * (len(keys) - 1)) / len(keys)
    for i, key in enumerate(keys):
        label, unit = _LABELS[key]
        values = sorted(_values(result, key))
        top = 1 - i * (height + gap)
        dom_y = [max(0.0, top - height), top]
        hx, hy, ex, ey = f"x{2 * i + 1}", f"y{2 * i + 1}", f"x{2 * i + 2}", f"y{2 * i + 2}"
        data.append({"type": "histogram", "x": values, "xaxis": hx, "yaxis": hy, "name": label, "nbinsx": 30})
        n = len(values)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv"},
                "x": values,
                "y": [(k + 1) / n for k in range(n)],
                "xaxis": ex,
                "yaxis": ey,
                "name": f"{label} ECDF",
            }
        )
        suffix = " (s)" if unit == "s" else ""
        for axis, dom_x, title in (
            (2 * i + 1, [0, 0.47], "seeds"),
            (2 * i + 2, [0.53, 1], "share of seeds ≤ x"),
        ):
            layout[f"xaxis{axis}"] = {
                "domain": dom_x,
                "anchor": f"y{axis}",
                "title": {"text": label + suffix},
            }
            layout[f"yaxis{axis}"] = {"domain": dom_y, "anchor": f"x{axis}", "title": {"text": title}}
    return {"data": data, "layout": layout}


def render_html(result: SweepResult) -> str:
    import plotly.io as pio

    plot = pio.to_html(
        figure_dict(result),
        validate=False,
        full_html=False,
        include_plotlyjs=True,
        include_mathjax=False,
        config={"displaylogo": False, "responsive": True},
    )
    e = html.escape
    rows = "".join(
        f"<tr><td>{r.seed}</td><td>{e(', '.join(r.failed_checks))}</td>"
        f"<td><code>{e(result.replay_command(r.seed))}</code></td></tr>"
        for r in result.failed
    )
    dist_rows = "".join(
        f"<tr><td>{e(_LABELS[k][0])}</td><td>{d.n}</td>"
        + "".join(f"<td>{e(_fmt(v, _LABELS[k][1]))}</td>" for v in (d.min, d.p50, d.p90, d.p99, d.max))
        + "</tr>"
        for k, d in result.distributions().items()
    )
    verdict = "PASSED" if not result.failed else "FAILED"
    failing = (
        f"<h2>Failing seeds</h2><table><tr><th>seed</th><th>failed checks</th><th>replay</th></tr>{rows}</table>"
        if rows
        else "<p>No seed failed.</p>"
    )
    embedded = json.dumps(result.to_json(), allow_nan=False).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="cosigner-ha">
<title>cosigner-ha sweep: {e(result.scenario)}: {verdict}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body>
<h1>cosigner-ha sweep: {e(result.scenario)} <small>{verdict}</small></h1>
<p>{len(result.seeds)} seeds · {result.passed} passed · {len(result.failed)} failed · engine {e(result.engine)}
({result.workers} workers) · {result.wall_seconds:.1f} s wall</p>
<h2>Distributions over seeds</h2>
<table><tr><th>figure</th><th>seeds</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>{dist_rows}</table>
{plot}
{failing}
<script type="application/json" id="sweep-json">{embedded}</script>
</body></html>
"""


def write_html(result: SweepResult, path: str | os.PathLike[str]) -> Path:
    return write_text_atomic(path, render_html(result))


__all__ = ["Distribution", "render_terminal", "write_html", "write_json"]
