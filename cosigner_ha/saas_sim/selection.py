"""Which probed co-signer gets the transaction: a pure function of the probe answers.

- "first-responder" (the default): the first available answer within the probe window;
- "listed-order": among the available answers, the candidate listed first;
- in both, a standby node is chosen only when no active node answered available, and a node that already
  failed this transaction is chosen only when no other one answered available.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cosigner_ha.saas_sim.config import Selection


@dataclasses.dataclass(slots=True)
class Answer:
    """One probe's state: `order` is the candidate's place in listed order, `seq` the arrival order."""

    probe_id: str
    cosigner_id: str
    api_user: str
    order: int
    standby: bool = False
    tried: bool = False
    available: bool | None = None  # None: not answered (yet)
    seq: int | None = None

    @property
    def answered(self) -> bool:
        return self.available is not None


def _rank(a: Answer, selection: Selection) -> tuple[int, int, int]:
    assert a.seq is not None
    primary = a.seq if selection == "first-responder" else a.order
    return (int(a.standby), int(a.tried), primary)


def choose(answers: Sequence[Answer], selection: Selection) -> Answer | None:
    """The chosen answer among those that said available, or None."""
    pool = [a for a in answers if a.available]
    if not pool:
        return None
    return min(pool, key=lambda a: _rank(a, selection))


def settled(answers: Sequence[Answer], selection: Selection) -> bool:
    """Whether waiting longer can no longer change `choose`: every answer is in, or the best possible
    outcome (an untried active node, first in the selection's order) has already answered."""
    if all(a.answered for a in answers):
        return True
    best = choose(answers, selection)
    if best is None or best.standby or best.tried:
        return False
    if selection == "first-responder":
        return True
    # listed-order: an untried active candidate listed earlier might still answer available.
    return all(a.answered for a in answers if not a.standby and not a.tried and a.order < best.order)
