"""The terminal summary, rendered to a recording console, and the timeline arithmetic under it."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from cosigner_ha.cluster.report import (
    Check,
    Failover,
    FaultSpan,
    LatencyStats,
    NodeLane,
    RunReport,
    SignatureMark,
    bin_timeline,
    node_colours,
    render_summary,
)
from cosigner_ha.cluster.report.terminal import BAR_WIDTH
from cosigner_ha.cluster.report.timeline import coverage, merge_intervals
from tests.cluster.test_report_model import sample_report


def render(report: RunReport, width: int = 110, **options: int) -> str:
    console = Console(record=True, width=width, color_system=None)
    render_summary(report, console, **options)
    return console.export_text()


def line_with(text: str, needle: str) -> str:
    found = [line for line in text.splitlines() if needle in line]
    assert found, f"no line holds {needle!r}"
    return found[0]


def check_rows(text: str, name: str) -> str:
    """A check's row (result and name) and the line below it (its detail)."""
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if f" {name} " in line)
    return lines[index] + "\n" + lines[index + 1]


def empty_report(**changes: object) -> RunReport:
    base = RunReport(
        scenario="empty",
        seed=1,
        trace_hash="ab" * 32,
        simulated_seconds=60.0,
        wall_seconds=0.0,
        transactions_total=0,
        by_status={},
        by_sub_status={},
        latency=LatencyStats(None, None, None, None),
        signed_by={},
        failovers=(),
        invariants={},
        expectations={},
        passed=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# -- header, tables, verdict --------------------------------------------------------------------------


def test_header_names_the_run() -> None:
    out = render(sample_report())
    header = line_with(out, "seed 7")
    assert "cosigner-ha run: active-active-passive" in out
    assert "6h simulated in 1.84 s wall (11,739× real time)" in header
    assert "trace 3f2a9c1b7e02" in header
    assert "3f2a9c1b7e0245d8" not in out  # a prefix, not the whole hash


def test_transactions_by_status_and_sub_status() -> None:
    report = sample_report()
    out = render(report)
    completed = report.by_status["COMPLETED"]
    row = line_with(out, "COMPLETED")
    assert str(completed) in row and f"{100 * completed / report.transactions_total:.1f}%" in row
    assert str(report.transactions_total) in line_with(out, "total")
    assert "7" in line_with(out, "REJECTED_BY_CALLBACK")
    assert "7" in line_with(out, "BLOCKED_BY_POLICY")


def test_statuses_are_listed_terminal_ones_first_then_the_rest() -> None:
    report = replace(sample_report(), by_status={"PENDING_SIGNATURE": 2, "FAILED": 1, "COMPLETED": 5})
    out = render(report)
    assert out.index("COMPLETED") < out.index("FAILED") < out.index("PENDING_SIGNATURE")


def test_latency_percentiles() -> None:
    out = render(replace(sample_report(), latency=LatencyStats(0.549, 1.26, 540.0, 541.0)))
    assert "549 ms" in line_with(out, "p50")
    assert "1.26 s" in line_with(out, "p90")
    assert "9m00s" in line_with(out, "p99")
    assert "9m01s" in line_with(out, "│ max")


def test_signatures_per_node_with_bars_proportional_to_counts() -> None:
    report = replace(sample_report(), signed_by={"nitro-a": 100, "nitro-b": 50, "sgx-dc1": 0})
    out = render(report)
    a, b, c = (line_with(out, f"│ {n} │") for n in ("nitro-a", "nitro-b", "sgx-dc1"))
    assert "aws/us-east-1/a" in a and "active" in a and "66.7%" in a
    assert "standby" in c and "0.0%" in c
    assert a.count("█") == BAR_WIDTH
    assert b.count("█") == BAR_WIDTH // 2
    assert "█" not in c


def test_bars_carry_the_node_colours_the_html_page_uses() -> None:
    report = sample_report()
    console = Console(record=True, width=110, color_system="truecolor", force_terminal=True)
    render_summary(report, console)
    styled = console.export_text(styles=True)
    for name, colour in node_colours(report.node_names()).items():
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert f"38;2;{r};{g};{b}m{name}" in styled, f"{name} is not drawn in {colour}"


def test_failovers_show_when_from_where_to_where_and_the_gap() -> None:
    out = render(sample_report())
    row = line_with(out, "0:30:00 │")
    assert "nitro-a → nitro-b" in row and "3.10 s" in row
    assert "nitro-b → sgx-dc1" in line_with(out, "1:00:00 │")
    lost = render(replace(sample_report(), failovers=(Failover(75.25, "nitro-a", None, None),)))
    row = line_with(lost, "0:01:15.250")
    assert "nitro-a → nobody signed again" in row and "—" in row
    assert "failovers: none" in render(replace(sample_report(), failovers=()))


def test_checks_and_a_passing_verdict() -> None:
    out = render(sample_report())
    row = check_rows(out, "no_double_sign")
    assert "PASS" in row and "at most one signature per transaction" in row
    checks = out[out.index("invariants and expectations") :]
    assert checks.index("│ invariants") < checks.index("no_double_sign") < checks.index("│ expectations")
    assert "PASS" in line_with(out, "min_completed_ratio")
    assert out.rstrip().endswith("PASSED: all 6 invariants and expectations held")


def test_a_failing_run_says_which_checks_failed() -> None:
    report = sample_report()
    report = replace(
        report,
        passed=False,
        invariants={
            **report.invariants,
            "no_double_sign": Check(False, "tx-00042 signed by nitro-a and nitro-b"),
        },
        expectations={
            **report.expectations,
            "max_failover": Check(False, "longest gap 2m10s, expected <= 1m"),
        },
    )
    out = render(report)
    row = check_rows(out, "no_double_sign")
    assert "FAIL" in row and "tx-00042 signed by nitro-a and nitro-b" in row
    assert "FAIL" in line_with(out, "max_failover")
    assert out.rstrip().endswith("FAILED: 2 of 6 checks failed: no_double_sign, max_failover")


def test_text_from_the_run_is_printed_as_written_not_as_markup() -> None:
    report = replace(
        sample_report(),
        scenario="[bold]odd[/bold]",
        invariants={"x": Check(False, "saw [red]3[/red] signatures")},
        expectations={},
        passed=False,
    )
    out = render(report)
    assert "cosigner-ha run: [bold]odd[/bold]" in out
    assert "saw [red]3[/red] signatures" in out


def test_an_empty_run_still_renders() -> None:
    out = render(empty_report())
    assert "cosigner-ha run: empty" in out
    assert "— real time" in out  # no wall time measured: no speed-up
    assert "0" in line_with(out, "│ total")
    assert "failovers: none" in out and "checks: none" in out
    assert "timeline" not in out  # no nodes, nothing to draw
    assert out.rstrip().endswith("PASSED: all 0 invariants and expectations held")


@pytest.mark.parametrize("width", [60, 80, 200])
def test_renders_at_any_width(width: int) -> None:
    out = render(sample_report(), width=width)
    assert all(len(line) <= width for line in out.splitlines())
    assert "PASSED" in out


@pytest.mark.parametrize(("width", "columns"), [(80, 58), (60, 38), (110, 60)])
def test_the_timeline_narrows_to_fit_the_console_whole(width: int, columns: int) -> None:
    out = render(sample_report(), width=width)
    row = line_with(out, "│ sgx-dc1 (standby) ")
    cells = row[len("│ sgx-dc1 (standby) ") :].rstrip(" │")
    assert len(cells) == columns
    assert "6h" in line_with(out, "│                   0 ")  # the end of the axis is not cut off


# -- the text timeline --------------------------------------------------------------------------------


def timeline_row(out: str, label: str, widest: str = "sgx-dc1 (standby)") -> str:
    """The 60 cells of a timeline row: what follows the label (padded to the widest label)."""
    line = line_with(out, f"│ {label} ")
    start = line.index("│ ") + 2 + len(widest) + 1
    return line[start : start + 60]


def test_timeline_has_a_row_per_node_and_shows_when_each_was_down() -> None:
    out = render(sample_report())
    a, b, sgx = (timeline_row(out, n) for n in ("nitro-a", "nitro-b", "sgx-dc1 (standby)"))
    # 6 h in 60 columns of 6 minutes: nitro-a crashed 30m-45m (columns 5-7), the region 1h-1h40m (10-16)
    assert a[5:7] == "░░" and a[10:16] == "░░░░░░"
    assert "░" not in b[:10] and b[10:16] == "░░░░░░"
    # the standby signs only while both active nodes are down
    assert set(sgx[:10]) == {"·"} and set(sgx[17:]) == {"·"}
    assert all(c in "▁▂▃▄▅▆▇█" for c in sgx[10:16])
    assert "█" in a + b + sgx  # the busiest column is full height


def test_timeline_marks_faults_and_has_an_axis_and_legend() -> None:
    out = render(sample_report())
    faults = timeline_row(out, "faults")
    assert faults[5:7] == "▀▀" and faults[10:17] == "▀" * 7 and faults[40:] == "▀" * 20
    assert faults[0] == " " and faults[8] == " "
    axis = line_with(out, "│                   0 ")
    assert "3h" in axis and "6h" in axis
    assert "signatures per 6m00s" in out
    assert "0:30:00–0:45:00 crash nitro-a" in out
    assert "4:00:00–end clock-skew sgx-dc1" in out
    assert "5:00:00 pair nitro-b" in out


def test_an_instant_fault_outside_any_span_is_a_small_mark() -> None:
    report = replace(
        empty_report(),
        simulated_seconds=600.0,
        lanes=(NodeLane("n1", "sgx", "onprem/dc1", False, ()),),
        faults=(FaultSpan(300.0, 300.0, "restart", "n1", ("n1",)),),
    )
    assert timeline_row(render(report), "faults", widest="faults")[30] == "▾"


def test_timeline_column_count_is_configurable() -> None:
    timeline = bin_timeline(sample_report(), columns=12)
    assert timeline.columns == 12 and timeline.column_seconds == 1800.0
    assert [len(lane.signatures) for lane in timeline.lanes] == [12, 12, 12]
    with pytest.raises(ValueError, match="at least one column"):
        bin_timeline(sample_report(), columns=0)


def test_nodes_known_only_from_signatures_get_a_row() -> None:
    report = replace(
        empty_report(),
        signed_by={"ghost": 1},
        signatures=(SignatureMark(30.0, "ghost", "tx-1", "signer-x"),),
    )
    timeline = bin_timeline(report, columns=6)
    assert [lane.name for lane in timeline.lanes] == ["ghost"]
    assert timeline.lanes[0].signatures == (0, 0, 0, 1, 0, 0)
    assert "ghost" in render(report)


intervals = st.lists(
    st.tuples(st.floats(-50, 1100, allow_nan=False), st.floats(0, 1200, allow_nan=False)), max_size=12
)


@given(intervals, st.integers(1, 90))
def test_coverage_adds_up_to_the_merged_time_inside_the_run(
    spans: list[tuple[float, float]], columns: int
) -> None:
    end = 1000.0
    fractions = coverage(spans, end, columns)
    assert len(fractions) == columns and all(0.0 <= f <= 1.0 for f in fractions)
    inside = sum(max(0.0, min(e, end) - max(s, 0.0)) for s, e in merge_intervals(spans))
    assert sum(f * end / columns for f in fractions) == pytest.approx(inside, abs=1e-6)


@given(intervals)
def test_merged_intervals_are_sorted_disjoint_and_cover_the_same_points(
    spans: list[tuple[float, float]],
) -> None:
    merged = merge_intervals(spans)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(merged))
    for point in (s for s, e in spans if e > s):
        assert any(a <= point <= b for a, b in merged)


@given(st.lists(st.tuples(st.sampled_from(["n1", "n2"]), st.floats(-10, 700, allow_nan=False)), max_size=50))
def test_every_signature_lands_in_exactly_one_column(marks: list[tuple[str, float]]) -> None:
    report = replace(
        empty_report(),
        simulated_seconds=600.0,
        signatures=tuple(SignatureMark(t, node, f"tx-{i}", "u") for i, (node, t) in enumerate(marks)),
    )
    timeline = bin_timeline(report, columns=7)
    counted = {lane.name: sum(lane.signatures) for lane in timeline.lanes}
    for node in ("n1", "n2"):
        assert counted.get(node, 0) == sum(1 for n, _ in marks if n == node)
