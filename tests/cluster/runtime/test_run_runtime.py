"""`cosigner-ha run SCENARIO --runtime`: a short drill with a crash, a pause and a partition on real
processes at time scale 60 reports like a simulated run (same keys plus `mode`), every invariant checked
and every signature verifying; Ctrl-C and SIGTERM stop every process; a scenario the runtime cannot play,
and options that make no sense, are refused before anything starts."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha.cli import main
from cosigner_ha.cluster import bundled

DRILL = Path(__file__).parent / "scenarios" / "drill.toml"
COMMAND = [sys.executable, "-m", "cosigner_ha.cli", "run"]


def _env(tmp: Path) -> dict[str, str]:
    """The launcher's temp dirs go under `tmp`, so the test sees them made and removed."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp), "COLUMNS": "120"}


def _processes() -> dict[int, str]:
    """Every live (not zombie) process on the machine and its command line, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:  # gone meanwhile
            continue
        if state != "Z":
            found[int(entry.name)] = cmdline
    return found


def _left_behind(marker: Path) -> list[str]:
    """Every live process whose command line mentions `marker` (a run's own directory)."""
    return [f"{pid}: {cmdline}" for pid, cmdline in _processes().items() if str(marker) in cmdline]


def _simulated_keys(tmp_path: Path) -> list[str]:
    out = tmp_path / "sim.json"
    done = subprocess.run([*COMMAND, str(DRILL), "--json", str(out)], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return list(json.loads(out.read_text()))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("loop", ["trio", pytest.param("asyncio", marks=pytest.mark.slow)])
def test_a_drill_with_a_crash_a_pause_and_a_partition_reports_as_a_simulated_run(
    tmp_path: Path, loop: str
) -> None:
    tmp = tmp_path / "tmp"
    outputs = {name: tmp_path / name for name in ("r.json", "t.jsonl", "r.html")}
    done = subprocess.run(
        [
            *(*COMMAND, str(DRILL), "--runtime", "--time-scale", "60"),
            *("--json", str(outputs["r.json"]), "--trace", str(outputs["t.jsonl"])),
            *("--html", str(outputs["r.html"]), "--loop", loop),
        ],
        capture_output=True,
        text=True,
        env=_env(tmp),
        timeout=200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "PASSED" in done.stdout
    report: dict[str, Any] = json.loads(outputs["r.json"].read_text())
    assert list(report) == [*_simulated_keys(tmp_path), "mode"] and report["mode"] == "runtime"
    assert report["passed"] and all(c["ok"] for c in report["invariants"].values())
    assert report["invariants"]["signatures_verify"]["ok"]
    assert report["transactions"]["total"] > 20
    # All signed but for a handler answer that missed its deadline, half a second of real time at scale 60
    # (see drill.toml's min_completed_ratio): on a loaded machine that is the runtime being real.
    by_status, total = report["transactions"]["by_status"], report["transactions"]["total"]
    assert by_status.get("COMPLETED", 0) >= 0.9 * total and set(by_status) <= {"COMPLETED", "FAILED"}
    assert set(report["transactions"]["by_cause"]) <= {"callback-timeout"}
    assert 470 <= report["simulated_seconds"] <= 900  # scenario seconds: 8 minutes, then the drain
    assert [i["fault"].split()[0] for i in report["fault_impacts"]] == ["crash", "pause", "partition"]
    assert "<html" in outputs["r.html"].read_text()[:500].lower()

    text = outputs["t.jsonl"].read_text()
    assert hashlib.sha256(text.encode()).hexdigest() == report["trace_hash"]
    lines = [json.loads(line) for line in text.splitlines()]
    header, events = lines[0], lines[1:]
    assert header["mode"] == "runtime" and header["time_scale"] == 60
    signed = [e for e in events if e["kind"] == "signed"]
    assert len(signed) == by_status["COMPLETED"]
    for event in signed:  # public key, message and signature in every `signed` event, and they verify
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(event["public_key"]))
        key.verify(bytes.fromhex(event["signature"]), bytes.fromhex(event["message"]))
    started = [(e["process"], e["role"]) for e in events if e["kind"] == "process_started"]
    assert started.count(("sgx-a", "node")) == 2  # the crashed node came back on its home
    assert {("saas", "saas"), ("sgx-b", "node"), ("sgx-c", "node")} <= set(started)
    exits = {(e["process"], e["status"]) for e in events if e["kind"] == "process_exited"}
    assert ("sgx-a", -9) in exits
    assert [e["action"] for e in events if e["kind"] == "fault"] == ["crash", "pause", "partition"]
    answered = {e["tx"] for e in events if e["kind"] == "callback_response" and e.get("action") == "APPROVE"}
    assert answered >= {e["tx"] for e in signed}  # the handler process approved every signed transaction
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    # `t` counts from the scenario's start, as in a simulated trace: set-up before it is negative
    start = next(e for e in events if e["kind"] == "scenario_start")
    assert start["t"] == 0.0 and start["setup_seconds"] > 0
    saas_start = next(e for e in events if e["kind"] == "process_started" and e["process"] == "saas")
    assert -start["setup_seconds"] - 1e-6 <= saas_start["t"] < 0
    faults = {e["index"]: e["t"] for e in events if e["kind"] == "fault"}
    drill = bundled.load(DRILL)
    for index, t in faults.items():  # each fault near its `at` in scenario seconds (late by real overheads)
        assert drill.faults[index].at <= t <= drill.faults[index].at + 180  # 3 s of real time

    assert not list(tmp.iterdir()), "the temporary work directory was not removed"
    assert not _left_behind(tmp)


def _wait_running(tmp: Path, launcher: subprocess.Popen[str], timeout: float = 120) -> Path:
    """The launcher's work directory once every node has written its trace (the drill is under way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for workdir in tmp.glob("cosigner-ha-run-*"):
            traces = workdir / "traces"
            if traces.is_dir() and len(list(traces.glob("*.jsonl"))) == 3:
                return workdir
        assert launcher.poll() is None, launcher.communicate()
        time.sleep(0.1)
    raise AssertionError("the drill did not start its nodes in time")


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("signum", "status"),
    [
        pytest.param(signal.SIGINT, 130, id="ctrl-c"),
        pytest.param(signal.SIGTERM, 143, id="sigterm", marks=pytest.mark.slow),
    ],
)
def test_an_interrupted_drill_stops_every_process_and_removes_its_directory(
    tmp_path: Path, signum: int, status: int
) -> None:
    tmp = tmp_path / "tmp"
    launcher = subprocess.Popen(
        [*COMMAND, str(DRILL), "--runtime", "--time-scale", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp),
    )
    try:
        workdir = _wait_running(tmp, launcher)
        assert _left_behind(workdir)  # the SaaS, the proxies and the nodes are running
        launcher.send_signal(signum)
        _, err = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert launcher.returncode == status, err
    assert "stopped: every process of the run is down; its work directory removed" in err
    assert f"interrupted by {'Ctrl-C' if signum == signal.SIGINT else 'SIGTERM'}" in err
    assert "Traceback" not in err
    assert not _left_behind(tmp)
    assert not workdir.exists()


@pytest.mark.timeout(180)
def test_sigterm_while_the_cluster_starts_stops_every_process_without_a_traceback(tmp_path: Path) -> None:
    """Start-up runs on an event loop (task groups); SIGTERM there, with SIGINT ignored as in a shell's
    background job (so no loop handler turns it into Ctrl-C), still ends the loop cleanly and stops all."""
    tmp = tmp_path / "tmp"
    launcher = subprocess.Popen(
        [*COMMAND, str(DRILL), "--runtime", "--time-scale", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # a background job
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp.glob("cosigner-ha-run-*/saas/ready.json")):  # the SaaS is up: pairing is next
            assert time.monotonic() < deadline and launcher.poll() is None, launcher.communicate()
            time.sleep(0.05)
        launcher.send_signal(signal.SIGTERM)
        _, err = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert launcher.returncode == 143, err
    assert "interrupted by SIGTERM" in err and "Traceback" not in err and "Exception ignored" not in err
    assert not _left_behind(tmp)
    assert not list(tmp.iterdir())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.timeout(180)
def test_a_sigkilled_launcher_takes_every_process_it_started_with_it(tmp_path: Path) -> None:
    """SIGKILL gives the launcher no chance to stop its process groups: each child dies with it anyway."""
    tmp = tmp_path / "tmp"
    launcher = subprocess.Popen(
        [*COMMAND, str(DRILL), "--runtime", "--time-scale", "20"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp),
    )
    started: list[int] = []
    try:
        workdir = _wait_running(tmp, launcher)
        started = [pid for pid, cmdline in _processes().items() if str(workdir) in cmdline]
        assert len(started) >= 7  # the SaaS, the owner's device, the handler, their links, the nodes...
        launcher.kill()
        launcher.wait(timeout=10)
        deadline = time.monotonic() + 30  # a bound: each exits at once, but a loaded machine is slow
        while (alive := set(started) & set(_processes())) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, f"still running after the launcher was SIGKILLed: {_left_behind(workdir)}"
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid in started:  # whatever the kernel left: this test never leaves an orphan either
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_node_that_dies_unexpectedly_is_reported_with_its_status_and_log(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    launcher = subprocess.Popen(
        [*COMMAND, str(DRILL), "--runtime", "--time-scale", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp),
    )
    try:
        workdir = _wait_running(tmp, launcher)
        time.sleep(0.5)
        node = next(pid for pid, cmdline in _processes().items() if f"{workdir}/nodes/sgx-b " in cmdline)
        os.killpg(node, signal.SIGKILL)  # not a fault of the scenario: nobody expects it
        _, err = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert launcher.returncode == 1, err
    assert f"node sgx-b (pid {node}) exited with signal 9" in err
    assert "log:" in err and "Traceback" not in err
    assert not _left_behind(tmp)


def _run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str, cwd: Path
) -> tuple[int, str]:
    """The command in this process (refusals start nothing): its exit status and standard error."""
    monkeypatch.chdir(cwd)
    status = main(["run", *argv])
    return status, capsys.readouterr().err


def test_a_fault_the_runtime_cannot_play_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted = 'latency = "1s"\naction = "APPROVE"\n'
    text = DRILL.read_text().replace(scripted, 'url = "https://risk.example/"\n')
    fault = 'action = "callback"\ncallback = "risk"\nmode = "reject"\nfor = "10s"\n'
    scenario = tmp_path / "url-handler-fault.toml"
    scenario.write_text(text + f'\n[[faults]]\nat = "2m"\n{fault}')
    status, err = _run(capsys, monkeypatch, str(scenario), "--runtime", "--json", "r.json", cwd=tmp_path)
    assert status == 2
    assert "faults[3].callback: only a scripted handler takes injected faults" in err
    assert not (tmp_path / "r.json").exists()


def test_a_callback_handler_the_runtime_cannot_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted = 'latency = "1s"\naction = "APPROVE"\n'
    assert scripted in DRILL.read_text()
    asgi = 'asgi = "tests.cluster.handlers.fastapi_handler:app"\n'  # no `public_key`
    scenario = tmp_path / "asgi-handler.toml"
    scenario.write_text(DRILL.read_text().replace(scripted, asgi))
    status, err = _run(capsys, monkeypatch, str(scenario), "--runtime", cwd=tmp_path)
    assert status == 2
    assert "callbacks.risk.public_key: missing; an asgi handler in the runtime needs the key" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--time-scale", "60"], "--time-scale applies to a runtime run only: add --runtime"),
        (["--workdir", "w"], "--workdir applies to a runtime run only: add --runtime"),
        (["--runtime", "--time-scale", "0"], "--time-scale 0: expected a number above 0"),
        (["--runtime", "--time-scale", "nan"], "--time-scale nan: expected a number above 0"),
        (["--runtime", "--workdir", "full"], "--workdir full: not empty; give a new or empty directory"),
        (["--runtime", "--workdir", "no/such/w"], "--workdir no/such/w: the folder no/such does not exist"),
    ],
)
def test_runtime_options_are_checked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    status, err = _run(capsys, monkeypatch, str(DRILL), *argv, cwd=tmp_path)
    assert status == 2
    assert message in err
    assert not _left_behind(tmp_path)


def test_a_time_scale_that_squeezes_the_probe_window_below_a_round_trip_is_noted() -> None:
    from cosigner_ha.cluster.runtime.fault_play import approximations
    from cosigner_ha.cluster.scenario import load_scenario

    scenario = load_scenario(DRILL)  # probe_window 6 s
    assert not any("probe window" in note for note in approximations(scenario, 60))
    (note,) = [n for n in approximations(scenario, 360) if "probe window" in n]
    assert "16.7 ms of real time" in note and "a time scale up to 200 keeps it above 30 ms" in note
