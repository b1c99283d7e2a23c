"""Known bugs planted into the product for a test to show that `explore` finds them.

Each plant is a context manager that patches one place and undoes it; explore must run in this process
(no Dask engine: a worker process would not carry the patch). The topology is the bundled
active-active-passive one without its own faults, so nothing triggers a plant by construction: the
fault-free run passes, and explore must add the fault that wakes the bug.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from cosigner_ha.cluster.bundled import find_scenario, load
from cosigner_ha.cluster.scenario import Scenario
from cosigner_ha.node.callback import CallbackClient, CallbackDecision, CallbackFailure
from cosigner_ha.node.database import Database
from cosigner_ha.node.lifecycle import Lifecycle
from cosigner_ha.saas_sim import signing
from cosigner_ha.saas_sim.config import Selection
from cosigner_ha.saas_sim.selection import Answer

#: Simulated minutes of the planted-bug topology (about 0.45 s of wall time per run).
MINUTES = 20


def topology() -> Scenario:
    """active-active-passive without its faults and timeline windows, 20 minutes long."""
    base = load(find_scenario("active-active-passive"))
    return dataclasses.replace(
        base,
        scenario=dataclasses.replace(base.scenario, duration=MINUTES * 60.0),
        faults=(),
        expect=dataclasses.replace(base.expect, windows=()),
    )


@contextlib.contextmanager
def approve_without_the_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The node treats a handler that failed (timeout, down, error) or said REJECT as an APPROVE."""
    real = CallbackClient.ask

    async def ask(self: CallbackClient, *args: Any, **kwargs: Any) -> CallbackDecision:
        try:
            decision = await real(self, *args, **kwargs)
        except CallbackFailure:
            return CallbackDecision("APPROVE", "planted: a failed handler counts as approval", 1)
        if decision.action == "REJECT":
            return CallbackDecision("APPROVE", "planted: REJECT read as APPROVE", decision.attempts)
        return decision

    with monkeypatch.context() as m:
        m.setattr(CallbackClient, "ask", ask)
        yield


@contextlib.contextmanager
def reuse_nonces_after_a_restart(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A node draws its nonces from the same stream at every boot (the boot epoch is not mixed in) and its
    nonce ledger does not refuse a spent nonce: after a restart (a crash, a restore from backup) it commits to
    and signs with nonces it already used."""
    real_boot = Lifecycle._boot

    async def boot(self: Lifecycle) -> None:
        await real_boot(self)
        self.proc.nonce_rand = self.env.crypto.child("nonces/planted").randbytes

    with monkeypatch.context() as m:
        m.setattr(Lifecycle, "_boot", boot)
        m.setattr(
            Database, "_consumed", property(lambda self: set(), lambda self, value: None), raising=False
        )
        yield


@contextlib.contextmanager
def treat_a_standby_as_active(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """While an active co-signer has no connection to the SaaS (crashed, cut off, its zone down), the
    SaaS's choice stops ranking the standby last: a standby that answers before the remaining active node
    takes the transaction. With every node connected a fault-free run never shows it."""
    real_round, real_choose = signing.SigningService._probe_round, signing.choose
    service: contextvars.ContextVar[signing.SigningService] = contextvars.ContextVar("service")

    async def probe_round(self: signing.SigningService, *args: Any, **kwargs: Any) -> Any:
        service.set(self)
        return await real_round(self, *args, **kwargs)

    def choose(answers: Sequence[Answer], chosen: Selection) -> Answer | None:
        connected = service.get().connected
        if any(not a.standby and not connected(a.cosigner_id) for a in answers):
            promoted = [dataclasses.replace(a, standby=False) for a in answers]
            pick = real_choose(promoted, chosen)
            return None if pick is None else answers[promoted.index(pick)]
        return real_choose(answers, chosen)

    with monkeypatch.context() as m:
        m.setattr(signing.SigningService, "_probe_round", probe_round)
        m.setattr(signing, "choose", choose)
        yield
