"""Time this tree against an earlier commit on the same scenario file, side by side in one benchmark run.

`prepare(rev)` extracts the commit (`git archive`) into a temporary directory and installs it, not editable,
into a temporary virtual environment whose dependencies are this environment's (a `.pth` line), so both
sides run with the same libraries and only the project's code differs. `timed_run` runs a scenario in a
fresh process of either environment and returns what the report says plus wall time, CPU time and peak
memory; the caller alternates the two sides so that load from other jobs falls on both alike.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

#: Run in a fresh interpreter of either environment: the scenario in process, timed around `run_scenario`
#: (analysis and invariant checks included), the report's figures as one JSON line.
DRIVER = """
import json, resource, sys, time
from pathlib import Path
from cosigner_ha.cluster import runner
from cosigner_ha.cluster.scenario import load_scenario
from cosigner_ha.env.trace import Trace
issues, record = 0, Trace.record
def counting(self, kind, /, **fields):  # counted as recorded: a run keeps no events to count afterwards
    global issues
    issues += kind == "token_refreshed"
    return record(self, kind, **fields)
Trace.record = counting
scenario = load_scenario(Path(sys.argv[1]))
wall, cpu = time.perf_counter(), time.process_time()
result = runner.run_scenario(scenario)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
r = result.report
print(json.dumps({
    "wall": wall, "cpu": cpu, "signed": sum(r.signed_by.values()), "transactions": r.transactions_total,
    "simulated": r.simulated_seconds, "passed": r.passed, "trace_hash": r.trace_hash,
    "token_issues": issues,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "code": runner.__file__,
}))
"""


@dataclasses.dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float
    signed: int
    transactions: int
    simulated: float
    passed: bool
    trace_hash: str
    token_issues: int
    peak_mb: float
    code: str


def prepare(root: Path, rev: str, workdir: Path) -> Path:
    """Install commit `rev` of the repository at `root` into a new environment under `workdir`; its python."""
    src, venv = workdir / "src", workdir / "venv"
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", rev], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(src, filter="data")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # the same third-party libraries as this environment: a path line (its own .pth files, among them this
    # tree's editable install, are not processed, so `cosigner_ha` comes from the commit alone)
    (Path(purelib) / "bench_shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(src)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return python


def timed_run(python: Path, scenario: Path, cwd: Path) -> Timed:
    """One run of `scenario` in a fresh process of the environment of `python` (cwd keeps sources off the path)."""
    out = subprocess.run(
        [str(python), "-c", DRIVER, str(scenario)], check=True, capture_output=True, text=True, cwd=cwd
    ).stdout
    return Timed(**json.loads(out.strip().splitlines()[-1]))


def temporary_workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="bench-against-")
