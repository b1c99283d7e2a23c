"""Per-fault impact: what a fault cost the transactions that needed signing, measured from them.

A fault is judged by the transactions it touched, not by when the next one happened to arrive: idle time
with nothing to sign counts as nothing. The figures are per fault so a sweep can read them seed by seed
(`fault_impacts`), and `max_failover` bounds the worst `unavailable_seconds` among the losses.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence

from cosigner_ha.cluster.report import FaultImpact, FaultSpan, SignatureMark, TxPoint

#: Fault actions that take a node away from signing: the ones `max_failover` bounds.
LOSS_ACTIONS = ("crash", "site-outage", "pause", "partition", "disk-loss", "attestation", "restart")


def needs_signing(point: TxPoint) -> bool:
    """A transaction the policy sent to signing (not blocked, not without a signer)."""
    return point.status != "BLOCKED" and point.sub_status != "SIGNER_NOT_FOUND"


def _open_at(point: TxPoint, t: float) -> bool:
    return point.t_submitted <= t and (point.t_terminal is None or point.t_terminal > t)


#: When each node was down (crashed, booting, cut off), as `NodeLane.down` holds it.
Downtime = Mapping[str, Sequence[tuple[float, float]]]


def effective_end(span: FaultSpan, down: Downtime) -> float | None:
    """When the fault's nodes were all back: its end, or later while a node it took was still booting."""
    if span.end is None:
        return None
    end = span.end
    for node in span.nodes:
        for start, stop in down.get(node, ()):
            if start <= end <= stop:
                end = max(end, stop)
    return end


def _touched(
    span: FaultSpan, points: Sequence[TxPoint], signatures: Sequence[SignatureMark], down: Downtime
) -> tuple[list[TxPoint], list[TxPoint], SignatureMark | None]:
    """In flight at the fault, arrived while it lasted and before signing resumed, and that signature."""
    at = span.start
    resumed = next((s for s in signatures if s.t > at), None)
    in_flight = [p for p in points if needs_signing(p) and _open_at(p, at)]
    until = min(
        float("inf") if resumed is None else resumed.t,
        float("inf") if (back := effective_end(span, down)) is None else back,
    )
    arrived = [p for p in points if needs_signing(p) and at < p.t_submitted <= until]
    return in_flight, arrived, resumed if in_flight or arrived else None


def fault_free_latency(
    spans: Sequence[FaultSpan],
    points: Sequence[TxPoint],
    signatures: Sequence[SignatureMark],
    down: Downtime | None = None,
) -> float | None:
    """The median latency of completed transactions no fault touched; None when there is none."""
    touched: set[int] = set()
    for span in spans:
        in_flight, arrived, _ = _touched(span, points, signatures, down or {})
        touched.update(id(p) for p in (*in_flight, *arrived))
    clean = [p.latency for p in points if p.latency is not None and id(p) not in touched]
    return statistics.median(clean) if clean else None


def fault_impacts(
    spans: Sequence[FaultSpan],
    points: Sequence[TxPoint],
    signatures: Sequence[SignatureMark],
    down: Downtime | None = None,
) -> list[FaultImpact]:
    """One `FaultImpact` per fault, in the timeline's order (`signatures` sorted by time).

    `down` (node -> down intervals) extends a fault over the boot that follows it; without it a fault ends
    at its `end`.
    """
    baseline = fault_free_latency(spans, points, signatures, down)
    out: list[FaultImpact] = []
    for index, span in enumerate(spans):
        in_flight, arrived, resumed = _touched(span, points, signatures, down or {})
        touched = in_flight + arrived
        before = [s for s in signatures if s.t <= span.start]
        was_signing = bool(before) and before[-1].node in span.nodes
        waited_from = min((max(span.start, p.t_submitted) for p in touched), default=None)
        unavailable = None if waited_from is None or resumed is None else round(resumed.t - waited_from, 6)
        added = [p.latency - baseline for p in touched if p.latency is not None and baseline is not None]
        moved = sum(1 for p in touched if was_signing and p.node is not None and p.node not in span.nodes)
        out.append(
            FaultImpact(
                index=index,
                at=span.start,
                end=span.end,
                action=span.action,
                label=span.label,
                nodes=span.nodes,
                in_flight=len(in_flight),
                arrived=len(arrived),
                waited_from=waited_from,
                unavailable_seconds=unavailable,
                resumed_by=None if resumed is None or not touched else resumed.node,
                self_recovered=resumed is not None and bool(touched) and resumed.node in span.nodes,
                took_over=was_signing and resumed is not None and resumed.node not in span.nodes,
                added_latency_max=round(max(added), 6) if added else None,
                added_latency_mean=round(statistics.fmean(added), 6) if added else None,
                failed=sum(1 for p in touched if p.status == "FAILED"),
                cancelled=sum(1 for p in touched if p.status == "CANCELLED"),
                rejected=sum(1 for p in touched if p.status == "REJECTED"),
                moved=moved,
            )
        )
    return out


def losses(impacts: Iterable[FaultImpact]) -> list[FaultImpact]:
    """The impacts of faults that took a node away and delayed at least one real transaction."""
    return [i for i in impacts if i.action in LOSS_ACTIONS and i.nodes and not i.idle]
