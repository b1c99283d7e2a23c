"""Fault schedules against a topology or a scenario: what fails, where, when and for how long.

A schedule shrinks toward what a person reads at a glance: fewer faults; the plainest action (a crash
first, see `FAILURE_ACTIONS`); a single node before a site, the smallest site before a larger one;
a later time (the last `grain` before the end first: a fault late in the run leaves less before it to
explain); the shortest outage (`grain`) before a longer one, and a bounded outage before a permanent one;
the mildest parameter (least latency, least loss, smallest skew, a disk lost without a new host).
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from cosigner_ha.cluster.scenario import CallbackFaultMode, Enclave, Fault, FaultAction, Node, Scenario
from cosigner_ha.testing.strategies.topology import Topology

#: The actions that break things, in shrinking order. Configuration changes (policy, pair, unpair) are
#: part of what a scenario rehearses, not failures to search.
FAILURE_ACTIONS: tuple[FaultAction, ...] = (
    FaultAction.CRASH,
    FaultAction.PARTITION,
    FaultAction.PAUSE,
    FaultAction.RESTART,
    FaultAction.SITE_OUTAGE,
    FaultAction.LATENCY,
    FaultAction.LOSS,
    FaultAction.CALLBACK,
    FaultAction.CLOCK_SKEW,
    FaultAction.DISK_LOSS,
    FaultAction.ATTESTATION,
)
#: Actions aimed at one node only.
NODE_ONLY = (FaultAction.DISK_LOSS, FaultAction.ATTESTATION)
#: Actions that take `for` (DESIGN.md section 4's table): all failures but `restart`.
WITH_FOR = tuple(a for a in FAILURE_ACTIONS if a != FaultAction.RESTART)
CALLBACK_MODES: tuple[CallbackFaultMode, ...] = (
    CallbackFaultMode.TIMEOUT,
    CallbackFaultMode.DOWN,
    CallbackFaultMode.RETRY,
    CallbackFaultMode.REJECT,
)


def site_prefixes(nodes: Sequence[Node]) -> tuple[str, ...]:
    """Every site prefix some node sits under, smallest failure domain first (zones, regions, providers)."""
    seen: dict[str, None] = {}
    depth = max(len(n.site_parts) for n in nodes)
    for level in range(depth, 0, -1):
        for node in nodes:
            if len(node.site_parts) >= level:
                seen.setdefault("/".join(node.site_parts[:level]), None)
    return tuple(seen)


def fault_schedules(
    target: Scenario | Topology,
    *,
    duration: float | None = None,
    min_faults: int = 0,
    max_faults: int = 3,
    actions: Sequence[FaultAction] = FAILURE_ACTIONS,
    grain: float = 1.0,
    earliest: float = 0.0,
    max_outage: float | None = None,
) -> st.SearchStrategy[tuple[Fault, ...]]:
    """Up to `max_faults` failures at times in [`earliest`, `duration`), on `target`'s nodes and sites.

    Times and outages are whole multiples of `grain` seconds; an outage lasts `grain`..`max_outage`
    (default: the whole run) or, less simply, to the end. Faults come back sorted by time. A callback
    fault needs a callback handler some API user uses; without one, `callback` is left out.
    """
    if isinstance(target, Scenario):
        nodes, end = target.nodes, target.scenario.duration if duration is None else duration
        used = {u.callback for u in target.api_users if u.callback is not None}
        callbacks = tuple(c.name for c in target.callbacks if c.name in used)
    else:
        if duration is None:
            raise ValueError("fault_schedules of a Topology needs the run's duration")
        nodes, end = target.nodes, duration
        used = {u.callback for u in target.api_users if u.callback is not None}
        callbacks = tuple(c.name for c in target.callbacks if c.name in used)
    if grain <= 0:
        raise ValueError(f"grain must be positive, got {grain}")
    if not 0 <= earliest < end:
        raise ValueError(f"earliest must be in [0, duration), got {earliest} for a duration of {end}")
    if not 0 <= min_faults <= max_faults:
        raise ValueError(f"need 0 <= min_faults <= max_faults, got {min_faults} and {max_faults}")
    chosen = [a for a in actions if a != FaultAction.CALLBACK or callbacks]
    unknown = [a for a in chosen if a not in FAILURE_ACTIONS]
    if unknown:
        raise ValueError(f"fault_schedules searches failures only, not {', '.join(map(str, unknown))}")
    if not chosen:
        raise ValueError("no fault action left to draw (a callback fault needs a callback handler in use)")
    slots = int((end - earliest) // grain)
    if slots < 1:
        raise ValueError(f"no time for a fault: duration {end} s, earliest {earliest} s, grain {grain} s")
    longest = max(1, int((max_outage if max_outage is not None else end) // grain))
    node_names = tuple(n.name for n in nodes)
    sites = site_prefixes(nodes)
    enclave = {n.name: n.enclave for n in nodes}

    @st.composite
    def one(draw: st.DrawFn) -> Fault:
        action = draw(st.sampled_from(chosen))
        back = draw(st.integers(0, slots - 1))
        at = end - grain * (back + 1)
        at = max(earliest, round(at, 6))
        fields: dict[str, object] = {"at": at, "action": action}
        if action == FaultAction.CALLBACK:
            fields["callback"] = draw(st.sampled_from(callbacks))
            fields["mode"] = draw(st.sampled_from(CALLBACK_MODES))
        elif action == FaultAction.SITE_OUTAGE:
            fields["site"] = draw(st.sampled_from(sites))
        elif action in NODE_ONLY:
            fields["node"] = draw(st.sampled_from(node_names))
        else:
            where = draw(st.sampled_from(node_names + sites))
            fields["node" if where in node_names else "site"] = where
        if action in WITH_FOR:  # one past the longest outage stands for "to the end": it shrinks last
            outage = draw(st.integers(1, longest + 1))
            fields["for_"] = None if outage > longest else outage * grain
        if action == FaultAction.LATENCY:
            fields["amount"] = draw(st.integers(1, 600)) / 10  # 0.1 s .. 60 s more one-way delay
        elif action == FaultAction.LOSS:
            fields["ratio"] = draw(
                st.sampled_from([0.1, 0.25, 0.5, 0.9])
            )  # 1.0 crashes the injector (see docs)
        elif action == FaultAction.CLOCK_SKEW:
            minutes = draw(st.integers(1, 24 * 60))
            fields["skew"] = float(minutes * 60 * (-1 if draw(st.booleans()) else 1))
        elif action == FaultAction.DISK_LOSS:
            node = str(fields["node"])
            fields["backup"] = draw(st.booleans())
            if enclave[node] in (Enclave.NITRO, Enclave.GCP):
                fields["new_host"] = draw(st.booleans())
        return Fault(**fields)  # type: ignore[arg-type]

    @st.composite
    def schedule(draw: st.DrawFn) -> tuple[Fault, ...]:
        faults = draw(st.lists(one(), min_size=min_faults, max_size=max_faults))
        return tuple(sorted(faults, key=lambda f: f.at))

    return schedule()
