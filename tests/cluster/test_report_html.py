"""The `--html` page: one self-contained, well-formed file that shows every node, the trace hash, the
summary figures and the drawing data; written atomically and byte-for-byte reproducible."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.cluster.report import (
    Check,
    FaultSpan,
    LatencyStats,
    NodeLane,
    RunReport,
    SignatureMark,
    TxPoint,
    latency_stats,
    node_colours,
    render_html,
    write_html,
)
from cosigner_ha.cluster.report.html import (
    SERIES_MARKS,
    WEBGL_ABOVE,
    _label_levels,
    _log_ticks,
    figure_dict,
    rolling_percentile,
)
from cosigner_ha.env import files as atomic_module
from tests.cluster.test_report_model import sample_report

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictPage(HTMLParser):
    """Reads a page and records what a strict reader would refuse: a tag closed out of order or left open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.doctype: str | None = None
        self.tags: dict[str, int] = {}
        self.scripts: list[dict[str, str | None]] = []
        self.script_text: dict[str, str] = {}
        self.text: list[str] = []
        self._current_script: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._current_script = dict(attrs).get("id") or f"#{len(self.scripts)}"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
            return
        self.stack.pop()
        if tag == "script":
            self._current_script = None

    def handle_data(self, data: str) -> None:
        if self._current_script is not None:
            self.script_text[self._current_script] = self.script_text.get(self._current_script, "") + data
        elif "style" not in self.stack:
            self.text.append(data)


def parse(page: str) -> StrictPage:
    parser = StrictPage()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(sample_report())


@pytest.fixture(scope="module")
def parsed(page: str) -> StrictPage:
    return parse(page)


def test_the_page_is_well_formed_html(parsed: StrictPage) -> None:
    assert parsed.doctype is not None and parsed.doctype.lower() == "doctype html"
    assert parsed.problems == []
    assert parsed.stack == []
    assert (parsed.tags["html"], parsed.tags["head"], parsed.tags["body"], parsed.tags["title"]) == (
        1,
        1,
        1,
        1,
    )


def test_the_page_fetches_nothing(page: str, parsed: StrictPage) -> None:
    assert not any("src" in attrs for attrs in parsed.scripts), "a <script src=...> would be fetched"
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?:", page, re.IGNORECASE)
    assert not re.search(r"@import\s+url\(\s*[\"']?https?:", page)
    # plotly.js itself is inlined: the page draws without a network
    assert "plotly.js v" in page or "Plotly" in page
    assert len(page) > 1_000_000


def test_the_page_names_every_node_the_trace_hash_and_the_verdict(page: str, parsed: StrictPage) -> None:
    report = sample_report()
    text = " ".join(parsed.text)
    for name in ("nitro-a", "nitro-b", "sgx-dc1"):
        assert name in text
        assert name in page
    assert report.trace_hash in text
    assert "PASSED" in text
    assert f"cosigner-ha run: {report.scenario}: PASSED" in page  # the <title>


def test_the_summary_tables_hold_the_json_figures(parsed: StrictPage) -> None:
    report = sample_report()
    text = " ".join(parsed.text)
    assert f"COMPLETED {report.by_status['COMPLETED']}" in " ".join(text.split())
    for node, count in report.signed_by.items():
        assert f"{node} {count}" in " ".join(text.split())
    assert "nitro-b → sgx-dc1" in text and "4.25 s" in text
    assert "no_double_sign" in text and "PASS" in text


def test_the_json_report_is_embedded_for_machines(parsed: StrictPage) -> None:
    embedded = json.loads(parsed.script_text["report-json"])
    assert embedded == sample_report().to_json()


def test_the_drawing_has_a_lane_per_node_faults_signatures_and_latency() -> None:
    report = sample_report()
    figure = figure_dict(report)
    colours = node_colours(report.node_names())
    traces = {trace["name"]: trace for trace in figure["data"]}
    for lane in report.lanes:
        (signed,) = [t for name, t in traces.items() if name.startswith(lane.name) and "signed" in name]
        assert len(signed["x"]) == report.signed_by[lane.name]
        assert signed["marker"]["color"] == colours[lane.name]
        assert set(signed["y"]) <= {lane.name} and signed["yaxis"] == "y"
    assert "sgx-dc1 (standby): 83 signed" in traces
    down = traces["node down"]
    assert down["y"] == ["nitro-a", "nitro-a", "nitro-b"]
    assert down["base"] == [0.5, 1.0, 1.0]  # hours: 30m, 1h, 1h
    layout = figure["layout"]
    # first node on top; transactions that ended without a signature on their own lane below the nodes
    assert layout["yaxis"]["categoryarray"] == ["not signed", "sgx-dc1", "nitro-b", "nitro-a"]
    assert layout["yaxis"]["ticktext"][2] == "sgx-dc1<br>(standby)"
    assert layout["xaxis2"]["title"]["text"] == "simulated time (hours)"
    assert layout["xaxis"]["range"] == layout["xaxis2"]["range"] == [0, 6.0]
    rects = [s for s in layout["shapes"] if s["type"] == "rect"]
    assert len(rects) == 2 * 5  # five spans that take time, shaded in both panels
    assert {s["yref"] for s in rects} == {"y domain", "y2 domain"}
    assert [s["x0"] for s in layout["shapes"] if s["type"] == "line"] == [5.0, 5.0]  # the instant pair
    labels = [a["text"] for a in layout["annotations"]]
    assert (
        "crash nitro-a" in labels and "clock-skew sgx-dc1 (to the end)" in labels and "pair nitro-b" in labels
    )
    completed = [t for t in report.transactions if t.latency is not None]
    latency = [t for t in figure["data"] if t["yaxis"] == "y2" and t["mode"] == "markers"]
    assert sum(len(t["y"]) for t in latency) == len(completed)
    assert {t["marker"]["color"] for t in latency} == set(colours.values())
    assert layout["yaxis2"]["type"] == "log"  # 0.3 s to 9 min
    assert "rolling p50 (last 50)" in traces and "rolling p99 (last 50)" in traces


def test_the_figure_is_valid_for_plotly() -> None:
    import plotly.graph_objects as go

    go.Figure(figure_dict(sample_report()))  # validates every key and value; raises on a wrong one


def test_many_points_are_drawn_with_webgl() -> None:
    report = sample_report()
    many = tuple(SignatureMark(i * 0.5, "nitro-a", f"tx-{i}", "signer-a") for i in range(WEBGL_ABOVE + 1))
    markers = [t for t in figure_dict(replace(report, signatures=many))["data"] if t.get("mode") == "markers"]
    assert {t["type"] for t in markers} == {"scattergl"}
    assert {t["type"] for t in figure_dict(report)["data"] if t.get("mode") == "markers"} == {"scatter"}


def test_text_from_the_run_is_escaped(tmp_path: Path) -> None:
    report = replace(
        sample_report(),
        scenario="<script>alert(1)</script>",
        invariants={"x": Check(False, "</td></tr><b>")},
        passed=False,
    )
    page = render_html(report)
    parsed = parse(page)
    assert parsed.problems == [] and parsed.stack == []
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert json.loads(parsed.script_text["report-json"])["scenario"] == "<script>alert(1)</script>"
    assert "FAILED" in " ".join(parsed.text)


def test_an_empty_run_still_makes_a_page() -> None:
    report = RunReport(
        scenario="empty",
        seed=1,
        trace_hash="cd" * 32,
        simulated_seconds=0.0,
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
        lanes=(NodeLane("solo", "sgx", "onprem", False, ()),),
    )
    parsed = parse(render_html(report))
    assert parsed.problems == [] and parsed.stack == []
    assert "solo" in " ".join(parsed.text)


def test_equal_reports_give_equal_bytes() -> None:
    assert render_html(sample_report()) == render_html(sample_report())


# -- writing ------------------------------------------------------------------------------------------


def test_write_html_writes_the_page(tmp_path: Path, page: str) -> None:
    path = write_html(sample_report(), tmp_path / "run.html")
    assert path.read_text(encoding="utf-8") == page
    assert os.listdir(tmp_path) == ["run.html"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_html_keeps_the_old_page_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.html"
    path.write_text("<!DOCTYPE html><p>old</p>", encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic_module.os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        write_html(sample_report(), path)
    assert path.read_text(encoding="utf-8") == "<!DOCTYPE html><p>old</p>"
    assert os.listdir(tmp_path) == ["run.html"]


def test_write_html_keeps_the_old_page_when_the_report_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "run.html"
    path.write_text("old", encoding="utf-8")
    bad = replace(sample_report(), latency=LatencyStats(float("nan"), None, None, None))
    with pytest.raises(ValueError, match=r"latency_seconds\.p50 is nan"):
        write_html(bad, path)
    assert path.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["run.html"]


# -- helpers ------------------------------------------------------------------------------------------


@given(
    st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=120),
    st.integers(1, 30),
    st.sampled_from([50, 99]),
)
def test_rolling_percentile_is_the_percentile_of_the_window(values: list[float], window: int, q: int) -> None:
    rolled = rolling_percentile(values, q, window)
    for i, got in enumerate(rolled):
        stats = latency_stats(values[max(0, i - window + 1) : i + 1])
        assert got == (stats.p50 if q == 50 else stats.p99)


def test_fault_labels_go_on_separate_rows_when_they_would_overlap() -> None:
    # 6 h wide: a label of 20 characters spans about 0.65 h on a 1,200 px page
    assert _label_levels([(0.5, "crash nitro-a"), (0.6, "restart nitro-a"), (3.0, "x")], 6.0) == [0, 1, 0]
    assert _label_levels([(0.1, "a" * 40), (0.2, "b" * 20), (0.3, "c"), (0.4, "d")], 6.0) == [0, 1, 2, 2]
    # more neighbours than rows: the row free soonest
    assert _label_levels([(0.1, "a" * 40), (0.2, "b" * 20), (0.3, "c" * 30), (0.4, "d")], 6.0) == [0, 1, 2, 1]


def test_latency_ticks_are_round_durations_around_the_data() -> None:
    assert [label for _, label in _log_ticks(0.3, 541.0)] == ["100 ms", "1 s", "10 s", "1m", "10m"]
    assert [label for _, label in _log_ticks(2.0, 3.0)][:1] == ["1 ms"]  # no round value inside: all of them


def test_fault_spans_that_last_to_the_end_are_drawn_to_the_end() -> None:
    report = replace(
        sample_report(), faults=(FaultSpan(3 * 3600.0, None, "partition", "nitro-a", ("nitro-a",)),)
    )
    rects = [s for s in figure_dict(report)["layout"]["shapes"] if s["type"] == "rect"]
    assert {(s["x0"], s["x1"]) for s in rects} == {(3.0, 6.0)}


def test_latency_points_of_unknown_nodes_are_kept() -> None:
    report = replace(sample_report(), transactions=(TxPoint(1.0, 3.0, "COMPLETED", None, 2.0, None),))
    names = [t["name"] for t in figure_dict(report)["data"]]
    assert "unknown node" in names


def _long_run(n: int) -> RunReport:
    """`n` transactions over six hours, all signed by nitro-a, a few failed."""
    step = 6 * 3600.0 / n
    marks = tuple(SignatureMark(i * step, "nitro-a", f"tx-{i}", "signer-a") for i in range(n))
    txs = tuple(
        TxPoint(i * step, i * step + 0.5 + (i % 97) / 10, "COMPLETED", None, 0.5 + (i % 97) / 10, "nitro-a")
        if i % 50
        else TxPoint(i * step, i * step + 30.0, "FAILED", "TIMEOUT", None, None)
        for i in range(n)
    )
    return replace(sample_report(), signatures=marks, transactions=txs)


def test_a_long_run_is_drawn_by_time_buckets_and_says_what_each_mark_stands_for() -> None:
    """A page stays bounded however long the run: each series at most SERIES_MARKS marks (three for
    latency: lowest, median, highest), the legend still counts every signature, the extremes are kept."""
    n = 30_000
    report = _long_run(n)
    figure = figure_dict(report)
    traces = {trace["name"]: trace for trace in figure["data"]}
    signed = traces["nitro-a: 30000 signed"]
    assert len(signed["x"]) <= SERIES_MARKS
    assert sum(int(text.split(" ")[0]) for text in signed["text"]) == n  # every signature stood for
    latency = [t for t in figure["data"] if t["yaxis"] == "y2" and t["mode"] == "markers"]
    completed = [t.latency for t in report.transactions if t.latency is not None]
    drawn = [y for t in latency for y in t["y"]]
    assert len(drawn) <= 3 * SERIES_MARKS and max(drawn) == max(completed) and min(drawn) == min(completed)
    failed = traces["failed: 600"]
    assert len(failed["x"]) <= SERIES_MARKS and failed["x"] == sorted(failed["x"])
    rolling = traces[f"rolling p99 (last {max(50, len(completed) // 100)})"]
    assert len(rolling["x"]) <= SERIES_MARKS and rolling["x"] == sorted(rolling["x"])
    assert rolling["y"][-1] == rolling_percentile(completed_in_order(report), 99, len(completed) // 100)[-1]
    go_figure_is_valid(figure)
    # twice the transactions, about the same page
    assert len(render_html(_long_run(2 * n))) < 1.2 * len(render_html(report))


def completed_in_order(report: RunReport) -> list[float]:
    done = sorted(
        (t for t in report.transactions if t.latency is not None), key=lambda t: (t.t_terminal, t.t_submitted)
    )
    return [t.latency or 0.0 for t in done]


def go_figure_is_valid(figure: dict[str, object]) -> None:
    import plotly.graph_objects as go

    go.Figure(figure)
