"""The `--html` page: one self-contained file (plotly.js inlined, nothing fetched) with the summary figures
in small tables, a timeline with a lane per node (down intervals, faults shaded and labelled, each
signature a mark coloured by node) and signing latency over time with a rolling p50 and p99; a long
run's series are drawn by time buckets (`SERIES_MARKS`), so the page stays bounded.

plotly is imported when a page is written, not when the package is: `cosigner-ha run` without `--html`
does not pay for it.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cosigner_ha.cluster.report import fmt
from cosigner_ha.cluster.report.html_tables import checks_table, outcome_tables, summary_tables
from cosigner_ha.cluster.report.html_tables import escape as _e
from cosigner_ha.cluster.report.model import (
    FaultSpan,
    RunReport,
    SignatureMark,
    TxPoint,
    report_json_text,
)
from cosigner_ha.cluster.report.palette import DOWN_COLOUR, FAIL_COLOUR, FAULT_COLOUR, OK_COLOUR, node_colours
from cosigner_ha.env.files import write_text_atomic

#: Completed transactions in the rolling percentile window of the latency panel: at least this many,
#: and a hundredth of them on long runs, so the line stays readable.
ROLLING_WINDOW = 50
#: Above this many points plotly draws with WebGL, which stays responsive where SVG would not.
WEBGL_ABOVE = 10_000
#: A series of more marks than this is drawn by as many equal time buckets (a page is some 1,200 pixels
#: wide: finer buckets would not show): per bucket a signature tick, the lowest, median and highest
#: latency, the rolling percentiles' last value, each saying how many it stands for. A day-long run's page
#: so stays a few megabytes and quick to open, and looks as it would with every mark.
SERIES_MARKS = 2_000
PLOT_ID = "cosigner-ha-run"
#: Rows of fault labels above the top lane, and the page geometry their widths are estimated with.
LABEL_LEVELS = 3
LABEL_CHAR_PX = 6.5
LABEL_PAGE_PX = 1200

T = TypeVar("T")


def write_html(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write the page atomically (temporary file, then rename): never a half-written file."""
    return write_text_atomic(path, render_html(report))


def render_html(report: RunReport) -> str:
    """The whole page as a string; equal reports give equal bytes."""
    import plotly.io as pio

    embedded = _json_for_script(report)  # first: it refuses a report JSON cannot hold, naming the key
    figure = figure_dict(report)
    plot = pio.to_html(
        figure,
        validate=False,
        full_html=False,
        include_plotlyjs=True,
        include_mathjax=False,
        div_id=PLOT_ID,
        config={"displaylogo": False, "responsive": True},
        default_height=f"{figure['layout']['height']}px",
    )
    title = f"cosigner-ha run: {report.scenario}"
    verdict = "PASSED" if report.passed else "FAILED"
    notes = "notes" if report.notices else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cosigner-ha">
<title>{_e(title)}: {verdict}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>cosigner-ha run: <span class="scenario">{_e(report.scenario)}</span>
<span class="verdict {verdict.lower()}">{verdict}</span></h1>
<p class="verdict-line {verdict.lower()} {notes}">{_e(report.verdict)}</p>
<p class="sub">seed {report.seed} · {_e(fmt.seconds(report.simulated_seconds))} simulated in
{report.wall_seconds:.2f} s wall ({_e(fmt.speedup(report.speedup))} real time) ·
trace <code>{_e(report.trace_hash)}</code></p>
</header>
<section class="tables">
{summary_tables(report)}
</section>
<section class="plot">
{plot}
</section>
{outcome_tables(report)}
{checks_table(report)}
<script type="application/json" id="report-json">{embedded}</script>
</body>
</html>
"""


# -- the figure ---------------------------------------------------------------------------------------


def figure_dict(report: RunReport) -> dict[str, Any]:
    """The plotly figure as plain data (`{"data": [...], "layout": {...}}`).

    Built as data rather than through `plotly.graph_objects`, whose per-value validation and copying
    cost some 30 times more than drawing at 100,000 transactions; the tests check the structure instead.
    """
    names = report.node_names()
    colours = node_colours(names)
    end = report.simulated_seconds if report.simulated_seconds > 0 else 1.0
    unit, unit_name = _time_unit(end)
    lanes = {lane.name: lane for lane in report.lanes}
    completed = sorted(
        (t for t in report.transactions if t.latency is not None and t.t_terminal is not None),
        key=lambda t: (t.t_terminal or 0.0, t.t_submitted),
    )
    scatter = "scattergl" if len(report.signatures) + len(completed) > WEBGL_ABOVE else "scatter"
    top = {"xaxis": "x", "yaxis": "y"}
    bottom = {"xaxis": "x2", "yaxis": "y2"}
    data: list[dict[str, Any]] = []

    # Down intervals: one horizontal bar per interval, on the node's lane.
    down = [(name, a, b) for name in names if name in lanes for a, b in lanes[name].down]
    if down:
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": "node down",
                "y": [name for name, _, _ in down],
                "base": [a / unit for _, a, _ in down],
                "x": [max(b - a, 0.0) / unit for _, a, b in down],
                "width": 0.7,
                "marker": {"color": DOWN_COLOUR, "opacity": 0.45, "line": {"width": 0}},
                "hovertext": [
                    f"{_e(n)} down {fmt.clock(a)}–{fmt.clock(b)} ({fmt.seconds(b - a)})" for n, a, b in down
                ],
                "hoverinfo": "text",
                **top,
            }
        )

    # Signatures: a vertical tick per signature on the signer's lane, one trace (legend entry) per node.
    by_node: dict[str, list[SignatureMark]] = {name: [] for name in names}
    for mark in report.signatures:
        by_node[mark.node].append(mark)
    for name in names:
        marks = by_node[name]
        standby = " (standby)" if name in lanes and lanes[name].standby else ""
        drawn = [(m, _mark_text(m)) for m in marks]
        if len(marks) > SERIES_MARKS:
            drawn = [
                (b[0], _bucket_text(b, "signature", lambda m: m.t))
                for b in _buckets(marks, lambda m: m.t, end)
            ]
        data.append(
            {
                "type": scatter,
                "mode": "markers",
                "name": f"{_e(name)}{standby}: {len(marks)} signed",
                "legendgroup": name,
                "x": [m.t / unit for m, _ in drawn],
                "y": [name] * len(drawn),
                "marker": {
                    "symbol": "line-ns",
                    "size": 14,
                    "color": colours[name],
                    "line": {"color": colours[name], "width": 1.5},
                },
                "text": [text for _, text in drawn],
                "hovertemplate": "%{text}<extra>" + _e(name) + "</extra>",
                **top,
            }
        )

    # Transactions that ended without a signature: a mark per transaction on their own lane, at the time
    # they ended, one trace (legend entry) per status.
    unsigned = [t for t in report.transactions if t.ended_badly and t.t_terminal is not None]
    rows = [*names, UNSIGNED_LANE] if unsigned else list(names)
    for status, (symbol, colour) in UNSIGNED_MARKS.items():
        mine = [t for t in unsigned if t.status == status]
        if not mine:
            continue
        shown = [(t, _unsigned_text(t)) for t in mine]
        if len(mine) > SERIES_MARKS:
            in_order = sorted(mine, key=_ended)
            shown = [(b[0], _bucket_text(b, status.lower(), _ended)) for b in _buckets(in_order, _ended, end)]
        data.append(
            {
                "type": scatter,
                "mode": "markers",
                "name": f"{status.lower()}: {len(mine)}",
                "legendgroup": status,
                "x": [_ended(t) / unit for t, _ in shown],
                "y": [UNSIGNED_LANE] * len(shown),
                "marker": {
                    "symbol": symbol,
                    "size": 9,
                    "color": colour,
                    "line": {"width": 1, "color": colour},
                },
                "text": [text for _, text in shown],
                "hovertemplate": "%{text}<extra>" + status + "</extra>",
                **top,
            }
        )

    # Latency: a point per completed transaction, coloured by the node that signed it.
    groups: dict[str | None, list[TxPoint]] = {}
    for t in completed:
        groups.setdefault(t.node if t.node in colours else None, []).append(t)
    for key in [*names, None]:
        mine = groups.get(key, [])
        if mine:
            points = [(t, f"submitted {fmt.clock(t.t_submitted)}") for t in mine]
            if len(mine) > SERIES_MARKS:
                points = _latency_extremes(mine, end)
            data.append(
                {
                    "type": scatter,
                    "mode": "markers",
                    "name": _e(key or "unknown node"),
                    "legendgroup": key or "unknown",
                    "showlegend": key is None,
                    "x": [_ended(t) / unit for t, _ in points],
                    "y": [t.latency for t, _ in points],
                    "marker": {"size": 5, "color": colours.get(key or "", "#555555"), "opacity": 0.75},
                    "text": [text for _, text in points],
                    "hovertemplate": "latency %{y:.3f} s<br>%{text}<extra>" + _e(key or "?") + "</extra>",
                    **bottom,
                }
            )
    if completed:
        xs = [(t.t_terminal or 0.0) / unit for t in completed]
        latencies = [t.latency or 0.0 for t in completed]
        window = max(ROLLING_WINDOW, len(completed) // 100)
        # on a long run, each bucket's last value (the line is a rolling percentile: it moves slowly)
        kept = _bucket_ends([_ended(t) for t in completed], end) if len(completed) > SERIES_MARKS else None
        for q, dash in ((50, "solid"), (99, "dot")):
            rolling = rolling_percentile(latencies, q, window)
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"rolling p{q} (last {window})",
                    "x": xs if kept is None else [xs[i] for i in kept],
                    "y": rolling if kept is None else [rolling[i] for i in kept],
                    "line": {"color": "#333333", "width": 1.5, "dash": dash},
                    "hoverinfo": "skip",
                    **bottom,
                }
            )

    # Faults: shaded spans in both panels, labelled above the top lane; instant faults are a line.
    shapes: list[dict[str, Any]] = []
    for span in report.faults:
        stop = end if span.end is None else span.end
        for x, y in (("x", "y domain"), ("x2", "y2 domain")):
            if stop > span.start:
                shapes.append(
                    {
                        "type": "rect",
                        "xref": x,
                        "yref": y,
                        "x0": span.start / unit,
                        "x1": stop / unit,
                        "y0": 0,
                        "y1": 1,
                        "fillcolor": FAULT_COLOUR,
                        "opacity": 0.25,
                        "line": {"width": 0},
                        "layer": "below",
                    }
                )
            else:
                shapes.append(
                    {
                        "type": "line",
                        "xref": x,
                        "yref": y,
                        "x0": span.start / unit,
                        "x1": span.start / unit,
                        "y0": 0,
                        "y1": 1,
                        "line": {"color": FAULT_COLOUR, "width": 2},
                    }
                )
    # Labels on up to LABEL_LEVELS rows so neighbours do not overwrite each other.
    levels = _label_levels([(span.start / unit, _fault_label(span)) for span in report.faults], end / unit)
    annotations: list[dict[str, Any]] = [
        _title(TOP_TITLE, TOP_DOMAIN[1]),
        _title(BOTTOM_TITLE, BOTTOM_DOMAIN[1]),
    ]
    for span, level in zip(report.faults, levels, strict=True):
        annotations.append(
            {
                "x": span.start / unit,
                "y": len(rows) - 0.45 + 0.32 * (LABEL_LEVELS - 1 - level),
                "xref": "x",
                "yref": "y",
                "text": _e(_fault_label(span)),
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
                "font": {"size": 10, "color": "#6b5200"},
                "bgcolor": "rgba(255,255,255,0.6)",
            }
        )

    positive = [t.latency for t in completed if t.latency is not None and t.latency > 0]
    log = bool(positive) and max(positive) / min(positive) > 100
    latency_axis: dict[str, Any] = {
        "domain": list(BOTTOM_DOMAIN),
        "anchor": "x2",
        "type": "log" if log else "linear",
        "title": {"text": "latency" + (" (log scale)" if log else " (seconds)")},
    }
    if log:
        ticks = _log_ticks(min(positive), max(positive))
        latency_axis.update(tickvals=[v for v, _ in ticks], ticktext=[t for _, t in ticks])
    layout: dict[str, Any] = {
        "template": _template(),
        "height": 360 + 46 * max(len(rows), 1) + 320,
        "barmode": "overlay",
        "hovermode": "closest",
        "margin": {"l": 90, "r": 30, "t": 50, "b": 60},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": -0.16, "xanchor": "left", "x": 0},
        "font": {"size": 13},
        "xaxis": {
            "domain": [0, 1],
            "anchor": "y",
            "matches": "x2",
            "showticklabels": False,
            "range": [0, end / unit],
        },
        "yaxis": {
            "domain": list(TOP_DOMAIN),
            "anchor": "x",
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(rows)),
            "tickvals": rows,
            "ticktext": [_e(n) + ("<br>(standby)" if n in lanes and lanes[n].standby else "") for n in rows],
            "range": [-0.6, len(rows) - 0.4 + 0.32 * LABEL_LEVELS + 0.1],
        },
        "xaxis2": {
            "domain": [0, 1],
            "anchor": "y2",
            "range": [0, end / unit],
            "title": {"text": f"simulated time ({unit_name})"},
        },
        "yaxis2": latency_axis,
        "shapes": shapes,
        "annotations": annotations,
    }
    return {"data": data, "layout": layout}


TOP_TITLE = "nodes: down intervals, faults (shaded) and signatures (one mark each); transactions not signed"
#: The lane of transactions that ended without a signature, below the nodes.
UNSIGNED_LANE = "not signed"
#: Their marks: plotly symbol and colour per terminal status.
UNSIGNED_MARKS: dict[str, tuple[str, str]] = {
    "FAILED": ("x", FAIL_COLOUR),
    "CANCELLED": ("square-open", "#F28E2B"),
    "REJECTED": ("triangle-down", "#B07AA1"),
    "BLOCKED": ("diamond-open", "#9C755F"),
}


def _unsigned_text(t: TxPoint) -> str:
    status = f"{t.status}/{t.sub_status}" if t.sub_status else t.status
    where = f"<br>{_e(t.workload)}" if t.workload else ""
    return (
        f"{_e(t.tx)}{where}<br>{_e(status)}<br>{_e(t.cause or 'unknown cause')}: {_e(t.reason)}"
        f"<br>ended {fmt.clock(t.t_terminal or 0.0)}"
    )


BOTTOM_TITLE = "signing latency of completed transactions, by completion time"
TOP_DOMAIN = (0.545, 1.0)
BOTTOM_DOMAIN = (0.0, 0.455)


def _title(text: str, top: float) -> dict[str, Any]:
    return {
        "text": text,
        "x": 0.5,
        "y": top,
        "xref": "paper",
        "yref": "paper",
        "xanchor": "center",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 16},
    }


def _template() -> dict[str, Any]:
    """plotly's "plotly_white" look, as data: plotly.js knows no template names."""
    import plotly.io as pio

    template: dict[str, Any] = pio.templates["plotly_white"].to_plotly_json()
    return template


def _fault_label(span: FaultSpan) -> str:
    return span.label + (" (to the end)" if span.end is None else "")


def _label_levels(labels: Sequence[tuple[float, str]], x_range: float) -> list[int]:
    """A row for each label: the first whose last label ends before this one starts (greedy, by start)."""
    per_char = x_range * LABEL_CHAR_PX / LABEL_PAGE_PX
    ends = [-math.inf] * LABEL_LEVELS
    levels = [0] * len(labels)
    for i in sorted(range(len(labels)), key=lambda i: labels[i][0]):
        x, text = labels[i]
        free = [level for level in range(LABEL_LEVELS) if ends[level] < x]
        level = free[0] if free else min(range(LABEL_LEVELS), key=lambda lv: ends[lv])
        levels[i] = level
        ends[level] = x + (len(text) + 1) * per_char
    return levels


_TICKS = (
    (0.001, "1 ms"),
    (0.01, "10 ms"),
    (0.1, "100 ms"),
    (1.0, "1 s"),
    (10.0, "10 s"),
    (60.0, "1m"),
    (600.0, "10m"),
    (3600.0, "1h"),
    (36000.0, "10h"),
    (86400.0, "1d"),
)


def _log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Round durations between `low` and `high` (one step beyond each end), labelled as durations."""
    inside = [i for i, (v, _) in enumerate(_TICKS) if low <= v <= high]
    if not inside:
        return list(_TICKS)
    first, last = max(inside[0] - 1, 0), min(inside[-1] + 1, len(_TICKS) - 1)
    return list(_TICKS[first : last + 1])


def _time_unit(end: float) -> tuple[float, str]:
    """Hours for runs of three hours or more, minutes from three minutes, else seconds."""
    if end >= 3 * 3600:
        return 3600.0, "hours"
    if end >= 180:
        return 60.0, "minutes"
    return 1.0, "seconds"


def _ended(t: TxPoint) -> float:
    return t.t_terminal or 0.0


def _mark_text(m: SignatureMark) -> str:
    return f"{_e(m.tx)}<br>for {_e(m.api_user)}<br>at {fmt.clock(m.t)}"


def _buckets(items: Sequence[T], time: Callable[[T], float], end: float) -> list[list[T]]:
    """`items` (in time order) in `SERIES_MARKS` equal time buckets over the run; the non-empty ones."""
    width = max(end, 1e-9) / SERIES_MARKS
    out: list[list[T]] = []
    current = -1
    for item in items:
        k = min(int(time(item) / width), SERIES_MARKS - 1)
        if k != current or not out:
            out.append([])
            current = k
        out[-1].append(item)
    return out


def _bucket_text(bucket: Sequence[T], what: str, time: Callable[[T], float]) -> str:
    first, last = time(bucket[0]), time(bucket[-1])
    span = f"at {fmt.clock(first)}" if len(bucket) == 1 else f"from {fmt.clock(first)} to {fmt.clock(last)}"
    return f"{len(bucket)} {what}(s)<br>{span}"


def _latency_extremes(mine: Sequence[TxPoint], end: float) -> list[tuple[TxPoint, str]]:
    """Per time bucket, the lowest, median and highest latency: the cloud's outline and body."""
    out: list[tuple[TxPoint, str]] = []
    for bucket in _buckets(mine, _ended, end):
        ranked = sorted(bucket, key=lambda t: t.latency or 0.0)
        picks = {0: "lowest", len(ranked) // 2: "median", len(ranked) - 1: "highest"}
        for i, label in sorted(picks.items()):
            t = ranked[i]
            note = "" if len(ranked) == 1 else f"<br>{label} of {len(ranked)} completed in this interval"
            out.append((t, f"submitted {fmt.clock(t.t_submitted)}{note}"))
    out.sort(key=lambda p: _ended(p[0]))
    return out


def _bucket_ends(times: Sequence[float], end: float) -> list[int]:
    """The index of the last of `times` (in order) in each non-empty bucket."""
    width = max(end, 1e-9) / SERIES_MARKS
    keys = [min(int(t / width), SERIES_MARKS - 1) for t in times]
    return [i for i in range(len(keys)) if i + 1 == len(keys) or keys[i + 1] != keys[i]]


def rolling_percentile(values: Sequence[float], q: int, window: int) -> list[float]:
    """For each position, the nearest-rank q-th percentile of the last `window` values up to it."""
    ordered: list[float] = []
    out: list[float] = []
    for i, value in enumerate(values):
        bisect.insort(ordered, value)
        if i >= window:
            del ordered[bisect.bisect_left(ordered, values[i - window])]
        n = len(ordered)
        out.append(ordered[-(-q * n // 100) - 1])
    return out


def _json_for_script(report: RunReport) -> str:
    """The `--json` report, safe inside a <script> element (no "</script>" can close it early)."""
    return (
        report_json_text(report)
        .strip()
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


_CSS = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px 32px; color: #222; }}
h1 {{ font-size: 22px; margin: 0 0 4px 0; }}
h1 .scenario {{ color: #4E79A7; }}
.verdict {{ font-size: 14px; padding: 2px 10px; border-radius: 10px; margin-left: 10px; vertical-align: middle; color: white; }}
.verdict.passed {{ background: {OK_COLOUR}; }}
.verdict.failed {{ background: {FAIL_COLOUR}; }}
.sub {{ color: #555; margin: 0 0 16px 0; }}
.tables {{ display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; margin-bottom: 12px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
caption {{ text-align: left; font-weight: 600; padding-bottom: 4px; }}
th, td {{ padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: left; }}
th {{ color: #666; font-weight: 500; }}
.num {{ font-variant-numeric: tabular-nums; }}
.dim {{ color: #999; }}
.pass {{ color: {OK_COLOUR}; font-weight: 700; }}
.fail {{ color: {FAIL_COLOUR}; font-weight: 700; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }}
code {{ font-size: 12px; }}
.checks {{ margin-top: 16px; }}
.verdict-line {{ font-weight: 600; margin: 0 0 12px 0; }}
.verdict-line.passed {{ color: {OK_COLOUR}; }}
.verdict-line.failed {{ color: {FAIL_COLOUR}; }}
.verdict-line.notes {{ color: #9C6B00; }}
.outcomes {{ margin-top: 16px; }}
"""
