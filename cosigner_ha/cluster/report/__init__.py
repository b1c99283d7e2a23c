"""What a run produced and the three ways of showing it: the terminal summary, the `--json` file and
the self-contained `--html` page.

    report = RunReport(...)                 # filled in by the runner
    render_summary(report, Console())       # rich summary with a text timeline
    write_json(report, "run.json")          # DESIGN.md section 5's keys, written atomically
    write_html(report, "run.html")          # plotly page, plotly.js inlined, written atomically

The format of each is documented in docs/reports.md.
"""

from cosigner_ha.cluster.report.html import render_html, write_html
from cosigner_ha.cluster.report.model import (
    JSON_KEYS,
    Breakdown,
    Check,
    Failover,
    FailureCause,
    FaultError,
    FaultImpact,
    FaultSpan,
    LatencyStats,
    NodeLane,
    RunReport,
    SignatureMark,
    TxPoint,
    latency_stats,
    report_json_text,
    rule_label,
    write_json,
)
from cosigner_ha.cluster.report.palette import node_colours
from cosigner_ha.cluster.report.terminal import render_summary
from cosigner_ha.cluster.report.timeline import Timeline, bin_timeline
from cosigner_ha.env.files import write_text_atomic

__all__ = [
    "JSON_KEYS",
    "Breakdown",
    "Check",
    "Failover",
    "FailureCause",
    "FaultError",
    "FaultImpact",
    "FaultSpan",
    "LatencyStats",
    "NodeLane",
    "RunReport",
    "SignatureMark",
    "Timeline",
    "TxPoint",
    "bin_timeline",
    "latency_stats",
    "node_colours",
    "render_html",
    "render_summary",
    "report_json_text",
    "rule_label",
    "write_html",
    "write_json",
    "write_text_atomic",
]
