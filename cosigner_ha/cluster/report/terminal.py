"""The summary `cosigner-ha run` prints: header, timeline, tables, checks and a verdict, drawn with rich.

Everything that comes from the scenario or the run (names, details) is added as `Text`, never as markup,
so a check detail holding "[red]" prints as written.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cosigner_ha.cluster.report import fmt
from cosigner_ha.cluster.report.model import Check, RunReport
from cosigner_ha.cluster.report.palette import DOWN_COLOUR, FAIL_COLOUR, FAULT_COLOUR, OK_COLOUR, node_colours
from cosigner_ha.cluster.report.timeline import Timeline, bin_timeline
from cosigner_ha.cluster.report.workspaces import workspaces_table

#: Terminal statuses first (as DESIGN.md section 4 lists them), anything else (still pending) after.
STATUS_STYLES: Mapping[str, str] = {
    "COMPLETED": "green",
    "REJECTED": "magenta",
    "BLOCKED": "yellow",
    "FAILED": "red",
    "CANCELLED": "bright_red",
}
PENDING_STYLE = "cyan"
DENSITY = "▁▂▃▄▅▆▇█"
PARTIAL = " ▏▎▍▌▋▊▉"
BAR_WIDTH = 30
TIMELINE_COLUMNS = 60
MIN_TIMELINE_COLUMNS = 12
MAX_LISTED_FAULTS = 8
IDLE_STYLE = "grey50"
NOTICE_COLOUR = "yellow"


def render_summary(report: RunReport, console: Console, *, timeline_columns: int = TIMELINE_COLUMNS) -> None:
    """Print the whole summary of one run to `console`; the timeline has `timeline_columns` columns, fewer
    when the console is too narrow for them."""
    colours = node_colours(report.node_names())
    parts: list[RenderableType] = [_header(report)]
    if report.node_names() and timeline_columns > 0:
        parts.append(_timeline(report, colours, timeline_columns, console.width))
    parts.append(_figures(report))
    if report.workspaces:
        parts.append(workspaces_table(report.workspaces))
    if report.failures:
        parts.append(_failures(report))
    parts.append(_signatures(report, colours, console.width))
    parts.append(_impacts(report, colours) if report.impacts else _failovers(report, colours))
    if report.fault_errors:
        parts.append(_fault_errors(report))
    parts.append(_checks(report))
    parts.append(_verdict(report))
    for part in parts:
        console.print(part)
        console.print()


# -- header -------------------------------------------------------------------------------------------


def _header(report: RunReport) -> Panel:
    line = Text()
    line.append("seed ", style="dim").append(str(report.seed), style="bold")
    line.append(" · ", style="dim").append(fmt.seconds(report.simulated_seconds), style="bold")
    line.append(" simulated in ", style="dim").append(f"{report.wall_seconds:.2f} s", style="bold")
    line.append(" wall (", style="dim").append(fmt.speedup(report.speedup), style="bold")
    line.append(" real time)", style="dim")
    line.append(" · trace ", style="dim").append(report.trace_hash[:12], style="bold")
    title = Text("cosigner-ha run: ", style="bold").append(report.scenario, style="bold cyan")
    return Panel(line, title=title, title_align="left", border_style="cyan" if report.passed else "red")


# -- timeline -----------------------------------------------------------------------------------------


def _timeline(report: RunReport, colours: Mapping[str, str], columns: int, width: int) -> Panel:
    lanes = {lane.name: lane.standby for lane in report.lanes}
    label_width = max(len(_lane_label(name, lanes.get(name, False))) for name in report.node_names())
    label_width = max(label_width, len("faults"))
    # Fit the console: panel borders and padding take 4 characters, the gap after the labels 1.
    columns = max(MIN_TIMELINE_COLUMNS, min(columns, width - label_width - 5))
    timeline = bin_timeline(report, columns)
    rows = Table.grid(padding=(0, 1))
    rows.add_column(no_wrap=True, min_width=label_width)
    rows.add_column(no_wrap=True)
    busiest = timeline.busiest
    for lane in timeline.lanes:
        cells = Text()
        for down, signed in zip(lane.down, lane.signatures, strict=True):
            cells.append(*_cell(down, signed, busiest, colours[lane.name]))
        label = Text(_lane_label(lane.name, lane.standby), style=colours[lane.name])
        rows.add_row(label, cells)
    faults = Text(
        "".join(
            "▀" if c > 0 else "▾" if i else " "
            for c, i in zip(timeline.faults, timeline.instants, strict=True)
        ),
        style=FAULT_COLOUR,
    )
    rows.add_row(Text("faults", style="dim"), faults)
    rows.add_row(Text(""), _axis(timeline))
    legend = Text(style="dim")
    legend.append("▁…█", style="bold").append(f" signatures per {fmt.seconds(timeline.column_seconds)}")
    legend.append(f" (█ {busiest})" if busiest else " (none)")
    legend.append("  ░", style=DOWN_COLOUR).append(" down  ")
    legend.append("·", style=IDLE_STYLE).append(" idle  ")
    legend.append("▀", style=FAULT_COLOUR).append(" fault  ")
    legend.append("▾", style=FAULT_COLOUR).append(" instant fault")
    body: list[RenderableType] = [rows, legend]
    if report.faults:
        body.append(_fault_list(report))
    return Panel(Group(*body), title="timeline", title_align="left", border_style="dim")


def _lane_label(name: str, standby: bool) -> str:
    return f"{name} (standby)" if standby else name


def _cell(down: float, signed: int, busiest: int, colour: str) -> tuple[str, str]:
    if signed:
        level = -(-signed * len(DENSITY) // busiest)  # ceil: one signature still shows
        return DENSITY[level - 1], colour
    if down >= 0.5:
        return "░", DOWN_COLOUR
    if down > 0:
        return "░", f"dim {DOWN_COLOUR}"
    return "·", IDLE_STYLE


def _axis(timeline: Timeline) -> Text:
    width = timeline.columns
    axis = [" "] * width
    marks = [(0, "0"), (width // 2, fmt.seconds(timeline.end / 2)), (width, fmt.seconds(timeline.end))]
    for position, label in marks:
        start = min(max(position - len(label) // 2, 0), width - len(label))
        if start < 0 or any(c != " " for c in axis[max(start - 1, 0) : start + len(label) + 1]):
            continue  # no room: a narrow timeline keeps the labels that fit
        axis[start : start + len(label)] = label
    return Text("".join(axis), style="dim")


def _fault_list(report: RunReport) -> Columns:
    items = []
    for span in report.faults[:MAX_LISTED_FAULTS]:
        if span.end is None:
            when = f"{fmt.clock(span.start)}–end"
        elif span.end <= span.start:
            when = fmt.clock(span.start)
        else:
            when = f"{fmt.clock(span.start)}–{fmt.clock(span.end)}"
        items.append(Text(when, style="dim").append(" ").append(span.label, style=FAULT_COLOUR))
    hidden = len(report.faults) - MAX_LISTED_FAULTS
    if hidden > 0:
        items.append(Text(f"and {hidden} more", style="dim"))
    return Columns(items, padding=(0, 3), title=Text("faults", style="dim", justify="left"))


# -- figures ------------------------------------------------------------------------------------------


def _figures(report: RunReport) -> Columns:
    total = report.transactions_total
    statuses = Table(title="transactions", title_justify="left", title_style="bold")
    statuses.add_column("status", no_wrap=True)
    statuses.add_column("count", justify="right")
    statuses.add_column("share", justify="right")
    for status, count in _status_order(report.by_status):
        style = STATUS_STYLES.get(status, PENDING_STYLE)
        statuses.add_row(Text(status, style=style), str(count), fmt.share(count, total))
    statuses.add_section()
    statuses.add_row(Text("total", style="bold"), Text(str(total), style="bold"), "")

    subs = Table(title="sub-status", title_justify="left", title_style="bold")
    subs.add_column("sub-status", no_wrap=True)
    subs.add_column("count", justify="right")
    for sub, count in report.by_sub_status.items():
        subs.add_row(Text(sub), str(count))
    if not report.by_sub_status:
        subs.add_row(Text("none", style="dim"), "")

    latency = Table(title="signing latency", title_justify="left", title_style="bold")
    latency.add_column("percentile", no_wrap=True)
    latency.add_column("seconds", justify="right")
    for name in ("p50", "p90", "p99", "max"):
        value = getattr(report.latency, name)
        latency.add_row(name, Text(fmt.seconds(value), style="dim" if value is None else ""))

    # side by side where they fit, the next below otherwise: a status is never cut to fit
    return Columns([statuses, subs, latency], padding=(0, 4))


def _failures(report: RunReport) -> Table:
    """Why transactions ended without a signature: Fireblocks' status over its sub-status, then the precise
    cause (saas_sim/causes.py) over the first one's reason. Statuses and causes are never cut (80 columns
    leave the reason 40 or more, wrapped at spaces)."""
    table = Table(title="why transactions did not complete", title_justify="left", title_style="bold")
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("cause and reason", ratio=1)
    for f in report.failures:
        status = Text(f.status, style=STATUS_STYLES.get(f.status, PENDING_STYLE))
        if f.sub_status:
            status.append("\n" + f.sub_status, style="dim")
        why = Text(f.cause_label, style="bold").append("\n" + f.example, style="dim")
        table.add_row(str(f.count), status, why)
    return table


def _status_order(by_status: Mapping[str, int]) -> list[tuple[str, int]]:
    known = [(s, by_status[s]) for s in STATUS_STYLES if s in by_status]
    return known + [(s, n) for s, n in by_status.items() if s not in STATUS_STYLES]


def _signatures(report: RunReport, colours: Mapping[str, str], width: int = 200) -> Table:
    """Node, site and role whole; the bar takes what the console leaves (BAR_WIDTH at most, 4 at least)."""
    lanes = {lane.name: lane for lane in report.lanes}
    total = sum(report.signed_by.values())
    most = max(report.signed_by.values(), default=0)
    names = report.node_names()
    node_width = max((len(n) for n in names), default=4)
    site_width = max((len(lanes[n].site) if n in lanes else 1 for n in names), default=4)
    # borders and padding of six columns take 19 characters; role 7, signed 6, share 6
    bar_width = max(4, min(BAR_WIDTH, width - 19 - max(node_width, 4) - max(site_width, 4) - 7 - 6 - 6))
    table = Table(title="signatures per node", title_justify="left", title_style="bold")
    table.add_column("node", no_wrap=True)
    table.add_column("site", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("signed", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    table.add_column("", min_width=bar_width, max_width=bar_width, no_wrap=True)
    for name in names:
        count = report.signed_by.get(name, 0)
        lane = lanes.get(name)
        site = Text(lane.site if lane else "?", style="dim")
        role = Text("standby" if lane and lane.standby else "active", style="dim")
        bar = Text(_bar(count, most, bar_width), style=colours[name])
        table.add_row(Text(name, style=colours[name]), site, role, str(count), fmt.share(count, total), bar)
    return table


def _bar(count: int, most: int, width: int = BAR_WIDTH) -> str:
    if not most or not count:
        return ""
    eighths = max(1, round(count * width * 8 / most))
    full, part = divmod(eighths, 8)
    return "█" * full + (PARTIAL[part] if part else "")


def _failovers(report: RunReport, colours: Mapping[str, str]) -> RenderableType:
    if not report.failovers:
        return Text("failovers: none (no signing node was lost while it was signing)", style="dim")
    table = Table(title="failovers", title_justify="left", title_style="bold")
    table.add_column("at")
    table.add_column("from → to")
    table.add_column("gap", justify="right")
    for f in report.failovers:
        route = Text(f.from_node, style=colours.get(f.from_node, ""))
        route.append(" → ")
        if f.to_node is None:
            route.append("nobody signed again", style=FAIL_COLOUR)
        else:
            route.append(f.to_node, style=colours.get(f.to_node, ""))
        table.add_row(fmt.clock(f.at), route, fmt.seconds(f.gap_seconds))
    return table


def _impacts(report: RunReport, colours: Mapping[str, str]) -> RenderableType:
    """Per fault: what waited, how long nobody could sign, latency added, what was lost, who signed again."""
    table = Table(title="fault impact", title_justify="left", title_style="bold")
    table.add_column("at", no_wrap=True)
    table.add_column("fault", overflow="fold")
    table.add_column("waited", justify="right", no_wrap=True)
    table.add_column("unavail.", justify="right", no_wrap=True)
    table.add_column("+latency", justify="right", no_wrap=True)
    table.add_column("then", overflow="fold")
    for i in report.impacts:
        if i.idle:
            table.add_row(fmt.clock(i.at), Text(i.label), "0", "", "", Text(i.outcome, style="dim"))
            continue
        then = Text(i.outcome, style=colours.get(i.resumed_by or "", ""))
        if i.resumed_by is None:
            then.stylize(FAIL_COLOUR)
        lost = [f"{n} {what}" for n, what in ((i.failed, "failed"), (i.cancelled, "cancelled")) if n]
        lost += [f"{i.rejected} rejected"] if i.rejected else []
        if lost:
            then.append("; " + ", ".join(lost), style=FAIL_COLOUR)
        if i.moved:
            then.append(f"; {i.moved} moved")
        table.add_row(
            fmt.clock(i.at),
            Text(i.label),
            f"{i.in_flight}+{i.arrived}",
            fmt.seconds(i.unavailable_seconds) if i.resumed_by else Text("never", style=FAIL_COLOUR),
            fmt.seconds(i.added_latency_max),
            then,
        )
    return table


def _fault_errors(report: RunReport) -> RenderableType:
    """Faults the cluster refused at run time (the run went on without them), as an operator saw them."""
    table = Table(title="faults refused (the run went on)", title_justify="left", title_style="bold")
    table.add_column("at")
    table.add_column("fault", overflow="fold")
    table.add_column("code", style=FAIL_COLOUR)
    table.add_column("reason", overflow="fold")
    for e in report.fault_errors:
        table.add_row(fmt.clock(e.at), Text(f"#{e.index} {e.label}"), Text(e.code), Text(e.reason))
    return table


# -- checks and verdict -------------------------------------------------------------------------------


def _checks(report: RunReport) -> RenderableType:
    """PASS/FAIL, then the check's name with its detail below it: a name is never cut, whatever its length,
    and the detail wraps at spaces in the width that is left."""
    if not report.invariants and not report.expectations:
        return Text("checks: none", style="dim")
    table = Table(title="invariants and expectations", title_justify="left", title_style="bold")
    table.add_column("result", no_wrap=True)
    table.add_column("check and what was seen", ratio=1)
    for kind, checks in (("invariants", report.invariants), ("expectations", report.expectations)):
        if not checks:
            continue
        table.add_row("", Text(kind, style="bold dim"))
        for name, check in checks.items():
            table.add_row(_result(check), Text(name, style="bold").append("\n" + check.detail, style=""))
    return table


def _result(check: Check) -> Text:
    return Text("PASS", style=f"bold {OK_COLOUR}") if check.ok else Text("FAIL", style=f"bold {FAIL_COLOUR}")


def _verdict(report: RunReport) -> Text:
    """`RunReport.verdict`, coloured: the same words the JSON and HTML reports carry."""
    ok = report.passed and not report.failed_checks()
    head, _, notes = report.verdict.partition("; but ")
    text = Text(head, style=f"bold {OK_COLOUR if ok else FAIL_COLOUR}")
    if notes:
        text.append("; but " + notes, style=f"bold {NOTICE_COLOUR}")
    return text
