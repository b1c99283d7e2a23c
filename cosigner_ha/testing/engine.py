"""Where many independent simulations run: in this process, or on Dask distributed.

A sweep or a search hands the engine a function, one shared argument (the scenario) and a list of chunks
(each a list of seeds or candidates); the engine yields each chunk's results as they complete. `local` runs
the chunks one after another here (for comparison and debugging: a breakpoint works). `dask` runs them on a
`distributed.LocalCluster` of worker processes on loopback, or on an existing cluster at `--scheduler`; the
shared argument is scattered to the workers once, so only seeds and compact results cross the network.

Dask is an optional dependency (`pip install 'cosigner-ha[sweep]'`); it is imported only when a Dask engine
is opened, so the simulator itself never loads it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

ENGINES = ("dask", "local")
#: How long a `--scheduler` may take to answer before the sweep gives up (exit 2).
SCHEDULER_TIMEOUT = "5s"


class EngineError(RuntimeError):
    """The engine cannot start (Dask missing, a scheduler that does not answer): the command's exit 2."""


class Engine(Protocol):
    name: str
    workers: int

    def map_chunks(
        self, fn: Callable[[S, list[T]], list[R]], shared: S, chunks: Sequence[list[T]]
    ) -> Iterator[list[R]]:
        """`fn(shared, chunk)` for every chunk; results in completion order."""
        ...


class LocalEngine:
    """Every chunk in this process, in order."""

    name = "local"
    workers = 1

    def map_chunks(
        self, fn: Callable[[S, list[T]], list[R]], shared: S, chunks: Sequence[list[T]]
    ) -> Iterator[list[R]]:
        for chunk in chunks:
            yield fn(shared, chunk)


class DaskEngine:
    """Chunks as Dask futures on a `distributed.Client` (its cluster owned by the engine when it made it)."""

    name = "dask"

    def __init__(self, client: Any, workers: int) -> None:
        self.client = client
        self.workers = workers

    def map_chunks(
        self, fn: Callable[[S, list[T]], list[R]], shared: S, chunks: Sequence[list[T]]
    ) -> Iterator[list[R]]:
        # Submitted now, not when the results are first asked for: a caller may submit more work meanwhile.
        # hash=False: a key of its own, so releasing an earlier call's copy can never take this one along.
        scattered = self.client.scatter(shared, broadcast=True, hash=False)
        futures = self.client.map(fn, [scattered] * len(chunks), list(chunks), pure=False)
        return self._results(futures, scattered)

    def _results(self, futures: list[Any], scattered: Any) -> Iterator[Any]:
        distributed = _distributed()
        try:
            for future in distributed.as_completed(futures):
                try:
                    yield future.result()
                except (distributed.client.FutureCancelledError, distributed.scheduler.KilledWorker) as exc:
                    raise EngineError(f"the Dask cluster lost the work: {exc}") from None
        finally:  # an interrupted sweep leaves nothing running on the cluster
            self.client.cancel([*futures, scattered])


def _distributed() -> Any:
    """Dask distributed, imported when an engine needs it (it ships no type information)."""
    return importlib.import_module("distributed")


@contextlib.contextmanager
def dask_settings() -> Iterator[None]:
    """Worker settings for CPU-bound simulations: no statistical profiler (a thread that walks every stack
    every 10 ms), no GIL contention monitor, and glibc's own malloc trimming instead of the nanny's
    aggressive `MALLOC_TRIM_THRESHOLD_` (a simulation allocates and frees many small objects)."""
    import dask

    with dask.config.set(
        {
            "distributed.worker.profile.enabled": False,
            "distributed.admin.system-monitor.gil.enabled": False,
            "distributed.nanny.pre-spawn-environ": {},
        }
    ):
        yield


def _preload(client: Any, modules: Sequence[str]) -> None:
    for name in modules:
        client.run(importlib.import_module, name)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@contextlib.contextmanager
def open_engine(
    kind: str,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    preload: Sequence[str] = ("cosigner_ha.testing.sweep", "cosigner_ha.testing.explorer"),
) -> Iterator[Engine]:
    """The engine `kind` ("dask" or "local"), closed (cluster and workers stopped) when the block ends.

    Dask workers import `preload` before the engine is handed out, so that the first task of each worker
    does not pay for importing the simulator (it is start-up, and timed as such).
    """
    if kind == "local":
        if scheduler is not None:
            raise EngineError("--scheduler needs --engine dask")
        yield LocalEngine()
        return
    if kind != "dask":
        raise EngineError(f"unknown engine {kind!r}; expected one of {', '.join(ENGINES)}")
    try:
        distributed = _distributed()
    except ImportError:
        raise EngineError(
            "the Dask engine needs Dask distributed: pip install 'cosigner-ha[sweep]' (or use --engine local)"
        ) from None
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except ValueError as exc:  # an address Dask cannot parse ("tcp://[::1")
            raise EngineError(f"--scheduler {scheduler[:200]!r}: not a scheduler address ({exc})") from None
        except (OSError, TimeoutError) as exc:
            raise EngineError(f"the Dask scheduler at {scheduler} did not answer: {exc}") from None
        with client:
            n = len(client.scheduler_info().get("workers", {}))
            if n == 0:
                raise EngineError(f"the Dask scheduler at {scheduler} has no workers")
            _preload(client, preload)
            yield DaskEngine(client, n)
        return
    n = workers or default_workers()
    with dask_settings():
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,  # one simulation per process: trio runs are CPU-bound and hold the GIL
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # The scheduler serves its HTTP routes even without a dashboard, on 8787 unless told: an
            # ephemeral loopback port never collides with another cluster (nor warns that it did).
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.CRITICAL,  # a heartbeat cut short by close() is not news
        )
    try:
        with distributed.Client(cluster) as client:
            _preload(client, preload)
            yield DaskEngine(client, n)
    finally:
        cluster.close()
