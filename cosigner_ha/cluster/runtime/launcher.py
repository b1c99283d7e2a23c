"""A scenario played on real processes: `cosigner-ha run SCENARIO --runtime` (and `up` on processes).

    with Drill(path, scenario, workdir, time_scale=60) as drill:
        result = drill.run()          # start, pair, workloads and faults in real time, drain, report

The cluster (`RuntimeCluster`) is started and paired as the simulator does; then the workloads' transactions
are submitted through the SaaS's control API at their scheduled times and the faults applied (`fault_play`),
every scenario time divided by the time scale. The transactions are the simulation's: their arrival times
and amounts are drawn from the scenario's seed exactly as a simulated run draws them (`schedule`). After the
scenario's duration the drill waits until every transaction is terminal (or the SaaS's timeouts have long
passed), stops every process, merges their traces and analyses the result with the simulation's own code.

The launcher is synchronous on purpose: one agenda played in time order, one thread, so Ctrl-C (a
`KeyboardInterrupt`) or SIGTERM (the CLI's `Terminated`) lands in the `with Drill` block, whose exit stops
every process group (a second signal waits meanwhile) and removes a temporary work directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cosigner_ha.cluster.analysis import analyse
from cosigner_ha.cluster.report import RunReport
from cosigner_ha.cluster.runtime.cluster import RuntimeCluster
from cosigner_ha.cluster.runtime.fault_play import FaultPlayer
from cosigner_ha.cluster.runtime.processes import ProcessFailed
from cosigner_ha.cluster.runtime.report_trace import scenario_events, trace_text, until_end
from cosigner_ha.cluster.scenario import Scenario, content_hash
from cosigner_ha.cluster.workloads import Submission, run_workload
from cosigner_ha.env import Environment, run_simulated

#: How often the launcher looks at its processes and the progress bar while it waits (real seconds).
TICK = 0.05
#: After the scenario's duration, real seconds between two looks at the transactions while draining.
DRAIN_POLL = 0.2


def schedule(scenario: Scenario, seed: int) -> list[tuple[float, Submission]]:
    """Every workload's submissions with their scenario times (seconds from `scenario_start`), drawn from
    the seed's streams as a simulated run draws them: the same transactions at the same times."""
    env = Environment.simulated(seed)
    out: list[tuple[float, Submission]] = []
    duration = scenario.scenario.duration

    async def main(e: Environment) -> None:
        async with anyio.create_task_group() as tg:
            for workload in scenario.workloads:
                tg.start_soon(
                    run_workload, e, workload, 0.0, duration, lambda s: out.append((e.clock.now(), s))
                )

    run_simulated(main, env)
    out.sort(key=lambda item: item[0])
    return out


@dataclasses.dataclass
class DrillResult:
    report: RunReport
    trace: str  # the `--trace` file's text
    events: int


class Drill:
    """One runtime run of a scenario in `workdir` (removed on close when `keep` is false)."""

    def __init__(
        self,
        path: Path,
        scenario: Scenario,
        workdir: Path,
        *,
        time_scale: float = 1.0,
        seed: int | None = None,
        loop: str = "trio",
        keep: bool = True,
        console: Console | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.scenario.seed if seed is None else seed
        self.time_scale = time_scale
        self.workdir = workdir
        self.keep = keep
        self.console = console or Console(quiet=True)
        self.cluster = RuntimeCluster(path, workdir, time_scale=time_scale, loop=loop)
        self.events: list[dict[str, Any]] = []
        self.player = FaultPlayer(self.cluster, self.record)
        self.submitted = 0
        self.faults_applied = 0
        self._closed = False
        #: Whether every process is up and paired: a failure after this is the run's, not the set-up's.
        self.started = False

    def __enter__(self) -> Drill:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process (a second Ctrl-C cannot cut this short) and remove a temporary workdir."""
        if self._closed:
            return
        self._closed = True
        with _signals_held():
            self.cluster.close()
            if not self.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the launcher's own events ---------------------------------------------------------------------

    def record(self, kind: str, **fields: Any) -> None:
        t = round(time.time() - self.cluster.start_wall, 6)
        self.events.append({"t": t, "kind": kind, "process": "launcher", **fields})

    # -- the run -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Every process started and paired, every node online."""
        self.cluster.start()
        self.started = True

    def run(self) -> DrillResult:
        began = time.perf_counter()
        with self.progress() as progress:
            starting = progress.add_task("starting processes and pairing", total=None, sim="", work="")
            self.start()
            progress.update(starting, total=1, completed=1)
            self.play(progress)
            draining = progress.add_task("draining", total=None, sim="", work="")
            open_ = self._drain()
            self.player.until_booted(n.name for n in self.scenario.nodes)  # a node restarted late boots
            progress.update(draining, total=1, completed=1, work=f"{open_} open")
        self.record("end", transactions=self.submitted)
        self.cluster.close()
        return self._result(time.perf_counter() - began)

    def play(self, progress: Progress) -> None:
        """The scenario's workloads and faults in real time, a bar on the scenario's time line."""
        duration = self.scenario.scenario.duration
        task = progress.add_task(self.scenario.scenario.name, total=duration, sim=_hms(0), work="")

        def tick(at: float) -> None:
            progress.update(task, completed=min(at, duration), sim=_hms(at), work=self._work())

        self._play(tick)
        progress.update(task, completed=duration, sim=_hms(duration))

    def serve(self) -> None:
        """Until interrupted (Ctrl-C, SIGTERM): `ProcessFailed` if a process dies that no fault killed."""
        while True:
            self.cluster.processes.check(expected_down=self.player.down)
            self.player.poll()
            time.sleep(TICK * 4)

    def _work(self) -> str:
        return f"{self.submitted} submitted, {self.faults_applied} faults"

    def _play(self, tick: Callable[[float], None]) -> None:
        """The agenda in time order: submissions, faults and their undoing, each at its scenario time
        divided by the time scale; undoings due after the duration are dropped, as in simulation."""
        duration = self.scenario.scenario.duration
        counter = itertools.count()
        agenda: list[tuple[float, int, Callable[[], None]]] = []
        faults = self.scenario.faults
        for index in sorted(range(len(faults)), key=lambda i: (faults[i].at, i)):
            heapq.heappush(agenda, (faults[index].at, next(counter), self._fault(index, agenda, counter)))
        for at, submission in schedule(self.scenario, self.seed):
            heapq.heappush(agenda, (at, next(counter), self._submit(submission)))
        self.origin = time.monotonic()
        setup = time.time() - self.cluster.start_wall  # in scenario seconds in the trace, as every time
        self.record(
            "scenario_start", time_scale=self.time_scale, setup_seconds=round(setup * self.time_scale, 6)
        )
        while agenda and agenda[0][0] < duration:
            at, _, do = heapq.heappop(agenda)
            self._wait_until(at, tick)
            do()
        self._wait_until(duration, tick)
        self.record("duration_reached")

    def _wait_until(self, at: float, tick: Callable[[float], None]) -> None:
        due = self.origin + at / self.time_scale
        while True:
            self.cluster.processes.check(expected_down=self.player.down)
            self.player.poll()  # pairings under way (an operator's setup or add-user)
            now = time.monotonic()
            tick((now - self.origin) * self.time_scale)
            if now >= due:
                return
            time.sleep(min(TICK, due - now))

    def _submit(self, sub: Submission) -> Callable[[], None]:
        def submit() -> None:
            body = {
                "initiator": sub.initiator,
                "operation": sub.operation,
                "asset": sub.asset,
                "amount": sub.amount,
                "source": sub.source,
                "destination": sub.destination,
                "destination_address": sub.destination_address,
                "external_id": sub.external_id,
                "extra_parameters": None if sub.extra_parameters is None else dict(sub.extra_parameters),
            }
            url = f"/workspaces/{self.scenario.workspace_of(sub.initiator)}/transactions"
            response = self.cluster.control.post(url, json=body)
            # a refusal (4xx) is the SaaS's own `submission_refused` event, as in simulation
            if response.status_code >= 500:
                raise ProcessFailed(f"SaaS control API {url}: {response.status_code} {response.text}")
            self.submitted += 1

        return submit

    def _fault(
        self,
        index: int,
        agenda: list[tuple[float, int, Callable[[], None]]],
        counter: Iterator[int],
    ) -> Callable[[], None]:
        fault = self.scenario.faults[index]
        player = self.player
        target, nodes = player.targets(fault)
        names = {"index": index, "action": str(fault.action), "target": target, "nodes": list(nodes)}

        def apply() -> None:
            self.record("fault", **names, duration=fault.for_)
            undo = player.apply(index, fault)
            self.faults_applied += 1
            if undo is None or fault.for_ is None:
                return

            def end() -> None:
                undo()
                self.record("fault_end", **names)

            heapq.heappush(agenda, (fault.at + fault.for_, next(counter), end))

        return apply

    def _drain(self) -> int:
        """Until every transaction is terminal or the SaaS's timeouts have long passed; how many are open."""
        s = self.scenario.saas
        limit = time.monotonic() + (s.authorization_timeout + s.signing_timeout + 600) / self.time_scale
        while True:
            self.cluster.processes.check(expected_down=self.player.down)
            self.player.poll()
            response = self.cluster.control.get("/transactions")
            if response.is_error:
                raise ProcessFailed(f"SaaS control API /transactions: {response.status_code} {response.text}")
            open_ = sum(1 for tx in response.json() if not tx["terminal"])
            if not open_ or time.monotonic() >= limit:
                return open_
            time.sleep(DRAIN_POLL)

    def _result(self, wall: float) -> DrillResult:
        merged = sorted(self.cluster.merged_trace() + self.events, key=lambda e: e["t"])
        origin = next((e["t"] for e in self.events if e["kind"] == "scenario_start"), 0.0)
        events = scenario_events(
            merged, time_scale=self.time_scale, origin=origin, nodes=(n.name for n in self.scenario.nodes)
        )
        header = {
            "mode": "runtime",
            "scenario": self.scenario.scenario.name,
            "scenario_hash": content_hash(self.scenario),
            "seed": self.seed,
            "time_scale": self.time_scale,
        }
        text, digest = trace_text(header, events)
        report = analyse(
            self.scenario, until_end(events), seed=self.seed, trace_hash=digest, wall_seconds=wall
        )
        return DrillResult(dataclasses.replace(report, mode="runtime"), text, len(events))

    def progress(self) -> Progress:
        return Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[sim]}"),
            TextColumn("{task.fields[work]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=not self.console.is_terminal,
        )


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d} scenario time"


class _signals_held:
    """SIGINT and SIGTERM wait while the cluster is being stopped, so a second Ctrl-C leaves no orphan."""

    def __enter__(self) -> None:
        self._held: list[tuple[int, Any]] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: nothing to hold
                self._held.append((signum, signal.signal(signum, signal.SIG_IGN)))

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._held:
            signal.signal(signum, previous)
