"""Readable anywhere (issue 19 item 5): the terminal summary fits 80 columns and never cuts a name, a
status, a sub-status, a cause or a check's name to fit: tables wrap at spaces or stack instead."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.console import Console

from cosigner_ha.cluster.report import Check, FailureCause, RunReport, render_summary
from tests.cluster.test_report_model import sample_report


def report_with_long_words() -> RunReport:
    report = sample_report()
    failures = (
        FailureCause(
            "FAILED", "CONNECTIVITY_ERROR", "callback-retries-exhausted", 12, "callback RETRY_EXHAUSTED " * 4
        ),
        FailureCause("BLOCKED", "BLOCKED_BY_POLICY", "policy-block", 3, "blocked by rule 12", rule=12),
        FailureCause("CANCELLED", "CANCELLED_BY_USER", "cancelled-by-user", 1, "cancelled by ops"),
    )
    invariants = {
        **report.invariants,
        "standby_only_when_no_active_answered": Check(True, "no standby was chosen while " * 5),
    }
    expectations = {
        **report.expectations,
        "outcome[3] exchange-sweep-after: FAILED/SIGNER_NOT_FOUND": Check(False, "0 of 2 ended so " * 6),
    }
    return replace(
        report,
        by_status={**report.by_status, "FAILED": 12, "CANCELLED": 1},
        by_sub_status={**report.by_sub_status, "CONNECTIVITY_ERROR": 12, "CANCELLED_BY_USER": 1},
        failures=failures,
        invariants=invariants,
        expectations=expectations,
        passed=False,
        notices=("workload exchange-sweep-after got nothing signed (2 FAILED signer-not-found)",),
    )


@pytest.mark.parametrize("width", [80, 100])
def test_the_summary_fits_the_console_and_cuts_no_word(width: int) -> None:
    report = report_with_long_words()
    console = Console(record=True, width=width, color_system=None)
    render_summary(report, console)
    out = console.export_text()
    assert max(len(line) for line in out.splitlines()) <= width
    assert "…" not in out.replace("▁…█", "")  # nothing abbreviated by cropping (the legend says ▁…█)
    words = [
        *report.by_status,
        *report.by_sub_status,
        *(f.cause_label for f in report.failures),
        *report.invariants,
        *report.expectations,
        *(lane.name for lane in report.lanes),
        *(lane.site for lane in report.lanes),
    ]
    for word in words:
        assert word in out, f"{word!r} is cut or missing at {width} columns"
    assert "workload exchange-sweep-after got nothing signed" in " ".join(out.split())
