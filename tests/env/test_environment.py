"""The environment: streams that do not shift, a DRBG that replays, virtual time, and a clean trio."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import math
import time
import uuid

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from trio._core import _run as trio_run

from cosigner_ha.env import (
    SIMULATION_EPOCH,
    Environment,
    OsCrypto,
    RandomStreams,
    SeededDrbg,
    TraceError,
    canonical,
    deterministic_scheduling,
    simulate,
)
from cosigner_ha.env.simulate import SIMULATION_GC_GEN0_THRESHOLD


def test_streams_replay_and_adding_a_consumer_never_shifts_another() -> None:
    a = RandomStreams(42)
    first = [a.stream("workload").random() for _ in range(5)]
    b = RandomStreams(42)
    b.stream("faults").random()  # a new consumer draws first ...
    b.stream("extra").getrandbits(64)
    assert [b.stream("workload").random() for _ in range(5)] == first  # ... and the workload does not move


def test_streams_differ_by_seed_name_and_namespace() -> None:
    draws = {
        (seed, ns, name): RandomStreams(seed).child(ns).stream(name).random()
        for seed in (1, 2)
        for ns in ("node/a", "node/b")
        for name in ("latency", "jitter")
    }
    assert len(set(draws.values())) == len(draws)


@given(st.integers(min_value=0, max_value=2**63), st.lists(st.integers(0, 100), max_size=8))
def test_drbg_is_a_stream_whatever_the_chunking(seed: int, chunks: list[int]) -> None:
    whole = SeededDrbg(seed).randbytes(sum(chunks))
    drbg = SeededDrbg(seed)
    assert b"".join(drbg.randbytes(n) for n in chunks) == whole


def test_drbg_children_and_seeds_are_independent() -> None:
    outputs = {
        SeededDrbg(1).randbytes(32),
        SeededDrbg(2).randbytes(32),
        SeededDrbg(1).child("node/a").randbytes(32),
        SeededDrbg(1).child("node/b").randbytes(32),
    }
    assert len(outputs) == 4
    assert OsCrypto().randbytes(32) != OsCrypto().randbytes(32)


def test_six_virtual_hours_cost_no_wall_time() -> None:
    async def main(env: Environment) -> tuple[float, float]:
        await env.clock.sleep(6 * 3600)
        await env.clock.sleep_until(6 * 3600 + 30)
        return env.clock.now(), env.clock.wall()

    started = time.perf_counter()
    now, wall = simulate(main, seed=1)
    assert time.perf_counter() - started < 2.0
    assert now == pytest.approx(6 * 3600 + 30)
    assert wall == pytest.approx(SIMULATION_EPOCH + 6 * 3600 + 30)


def test_child_clock_skews_the_wall_clock_only() -> None:
    async def main(env: Environment) -> tuple[float, float, float]:
        node = env.child("node/a", skew=-300.0)
        await node.clock.sleep(10)
        return node.clock.now(), node.clock.wall(), env.clock.wall()

    now, skewed_wall, true_wall = simulate(main, seed=1)
    assert now == pytest.approx(10)
    assert true_wall - skewed_wall == pytest.approx(300.0)


def test_a_simulated_clock_reads_whichever_run_is_running() -> None:
    """A clock (and its views) built before any run reads each run's own MockClock, as often as it is run,
    and refuses to be read outside a run."""
    env = Environment.simulated(1)
    node = env.child("node/a", skew=5.0)

    async def read(start: float) -> tuple[float, float, float]:
        await env.clock.sleep(2.5)
        return env.clock.now(), node.clock.now(), node.clock.wall()

    for start in (0.0, 100.0):
        clock = trio.testing.MockClock(autojump_threshold=0)
        clock.jump(start)
        assert trio.run(read, start, clock=clock) == (
            start + 2.5,
            start + 2.5,
            SIMULATION_EPOCH + start + 7.5,
        )
    with pytest.raises(RuntimeError, match="outside a trio run"):
        env.clock.now()


def test_ids_replay_and_look_like_uuids() -> None:
    async def main(env: Environment) -> list[str]:
        return [env.ids.uuid(), env.ids.sequence("tx"), env.ids.sequence("tx"), env.child("saas").ids.uuid()]

    first = simulate(main, seed=7)
    assert first == simulate(main, seed=7)
    assert first != simulate(main, seed=8)
    assert uuid.UUID(first[0]).version == 4
    assert first[1:3] == ["tx-1", "tx-2"]


def test_trace_hash_is_the_hash_of_the_file_bytes() -> None:
    sink = io.StringIO()

    async def main(env: Environment) -> str:
        env.trace.record("started", node="a", blob=b"\x01\xff")
        await env.clock.sleep(1.5)
        env.trace.record("signed", tx="tx-1", count=3, ratio=0.25)
        return env.trace.hash

    digest = simulate(main, seed=3, header={"scenario": "x"}, sink=sink)
    text = sink.getvalue()
    assert hashlib.sha256(text.encode()).hexdigest() == digest
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0] == {"kind": "header", "seed": 3, "scenario": "x"}
    assert lines[1] == {"t": 0.0, "kind": "started", "node": "a", "blob": "01ff"}
    assert lines[2]["t"] == 1.5
    assert text.splitlines()[2] == '{"count":3,"kind":"signed","ratio":0.25,"t":1.5,"tx":"tx-1"}'


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"x": math.nan}, "JSON cannot carry"),
        ({"a": object(), "x": math.inf}, "field 'x' is inf, which JSON cannot carry"),
        ({"x": object()}, "no canonical encoding"),
        ({"t": 1}, "reserved"),
    ],
)
def test_trace_refuses_what_it_cannot_encode_canonically(fields: dict[str, object], message: str) -> None:
    async def main(env: Environment) -> None:
        before = env.trace.hash
        with pytest.raises(TraceError, match=message):
            env.trace.record("bad", **fields)
        assert env.trace.hash == before and env.trace.count == 0  # nothing half-written

    simulate(main, seed=1)


def test_simulate_leaves_trio_as_it_found_it() -> None:
    state = trio_run._r.getstate()
    flag = trio_run._ALLOW_DETERMINISTIC_SCHEDULING

    async def main(env: Environment) -> None:
        assert trio_run._ALLOW_DETERMINISTIC_SCHEDULING
        await trio.sleep(1)

    simulate(main, seed=5)
    assert trio_run._r.getstate() == state
    assert flag == trio_run._ALLOW_DETERMINISTIC_SCHEDULING


def test_simulate_collects_young_garbage_less_often_and_restores_the_callers_thresholds() -> None:
    """A run sweeps the young generation every `SIMULATION_GC_GEN0_THRESHOLD` allocations (not CPython's
    700); the caller's thresholds come back afterwards, also when the run fails, and a caller that already
    collects less often is not made to collect more."""
    saved = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    async def main(env: Environment) -> None:
        seen.append(gc.get_threshold())
        await trio.sleep(1)

    async def fails(env: Environment) -> None:
        raise ValueError("boom")

    try:
        gc.set_threshold(700, 9, 8)
        simulate(main, seed=5)
        assert seen[-1] == (SIMULATION_GC_GEN0_THRESHOLD, 9, 8)
        assert gc.get_threshold() == (700, 9, 8)
        with pytest.raises(ValueError, match="boom"):
            simulate(fails, seed=5)
        assert gc.get_threshold() == (700, 9, 8)
        gc.set_threshold(50_000, 10, 10)
        simulate(main, seed=5)
        assert seen[-1] == (50_000, 10, 10)
    finally:
        gc.set_threshold(*saved)


def test_the_simulation_clock_runs_the_same_run_as_trios_mock_clock() -> None:
    """The run's MockClock reads its time and jumps without trio's statistics snapshot and wakes the
    sleepers it jumps to in the same loop pass: the same times and the same interleaving as stock MockClock."""

    async def main(env: Environment) -> list[tuple[float, int, int]]:
        order: list[tuple[float, int, int]] = []

        async def worker(i: int) -> None:
            for step in range(6):
                await trio.sleep((i * 7 + step * 3) % 5 * 0.25)  # zero, equal and distinct deadlines
                order.append((trio.current_time(), i, step))
                if step % 2:
                    with trio.move_on_after(0.5):
                        await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(worker, i)
        return order

    ours = simulate(main, seed=11)
    with deterministic_scheduling(11):
        stock = trio.run(main, Environment.simulated(11), clock=trio.testing.MockClock(autojump_threshold=0))
    assert ours == stock
    assert ours[-1][0] > 4


def test_interleaving_is_a_function_of_the_seed() -> None:
    async def main(env: Environment) -> list[int]:
        order: list[int] = []

        async def worker(i: int) -> None:
            for _ in range(3):
                await trio.sleep(0)
                order.append(i)

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(worker, i)
        return order

    runs = {seed: simulate(main, seed=seed) for seed in range(6)}
    assert all(simulate(main, seed=s) == order for s, order in runs.items())
    assert len({tuple(order) for order in runs.values()}) > 1


def test_the_runtime_clock_runs_on_asyncio_too() -> None:
    """DESIGN.md section 2: the runtime may run on asyncio; only simulations are bound to trio."""
    import asyncio

    async def main() -> tuple[float, float]:
        env = Environment.runtime()
        before = env.clock.now()
        await env.clock.sleep(0.01)
        return before, env.clock.now()

    before, after = asyncio.run(main())
    assert after - before >= 0.009


_json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), _json_values | st.binary(max_size=8), max_size=6))
def test_the_canonical_line_is_json_dumps_with_sorted_keys_compact_and_ascii(obj: dict[str, object]) -> None:
    expected = json.dumps(
        {k: v.hex() if isinstance(v, bytes) else v for k, v in obj.items()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    assert canonical(obj) == expected
