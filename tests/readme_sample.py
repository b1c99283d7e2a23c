"""The README's sample report, produced by the real run: `make readme-sample` writes it, and
tests/test_readme_sample.py fails when the README no longer shows what the code prints.

The sample is `cosigner-ha run`'s summary of the bundled default scenario at 110 columns, without colour.
Wall time and the speed-up are the only parts that differ between runs; `deterministic` masks them.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from rich.console import Console

from cosigner_ha.cluster import bundled
from cosigner_ha.cluster.bundled import DEFAULT_SCENARIO
from cosigner_ha.cluster.report import render_summary
from cosigner_ha.cluster.runner import run_scenario

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- readme-sample: begin (make readme-sample writes this block) -->"
END = "<!-- readme-sample: end -->"
WIDTH = 110
_WALL = re.compile(r"simulated in [0-9.,]+ s wall \([0-9.,]+× real time\)")


def render() -> str:
    """The summary `cosigner-ha run` prints for the bundled default scenario."""
    report = run_scenario(bundled.load(DEFAULT_SCENARIO)).report
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None, record=True, force_terminal=False)
    render_summary(report, console)
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


def deterministic(text: str) -> str:
    """`text` without what changes from run to run (wall seconds, speed-up), padding folded."""
    masked = _WALL.sub("simulated in (wall time)", text)
    return "\n".join(" ".join(line.split()) for line in masked.splitlines()).strip()


def block(sample: str) -> str:
    return f"{BEGIN}\n```text\n{sample}```\n{END}"


def current() -> str:
    """The sample in the README now (between the markers, without the code fence)."""
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END)
    inner = text[start + len(BEGIN) : end].strip("\n")
    return inner.removeprefix("```text\n").removesuffix("```").rstrip("\n") + "\n"


def write(sample: str) -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    README.write_text(text[:start] + block(sample) + text[end:], encoding="utf-8")


if __name__ == "__main__":
    write(render())
    print(f"{README}: sample report rewritten from the run of {DEFAULT_SCENARIO.name}", file=sys.stderr)
