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

from cosigner_ha import mpc
from cosigner_ha.cluster.bundled import find_scenario, load
from cosigner_ha.cluster.scenario import Expect, Scenario
from cosigner_ha.cluster.scenario.durations import Rate
from cosigner_ha.node.callback import CallbackClient, CallbackDecision, CallbackFailure
from cosigner_ha.node.database import Database
from cosigner_ha.node.lifecycle import Lifecycle
from cosigner_ha.saas_sim import signing
from cosigner_ha.saas_sim.config import Selection
from cosigner_ha.saas_sim.selection import Answer

#: Simulated minutes of the planted-bug topology (about 0.45 s of wall time per run).
MINUTES = 20


def topology(name: str = "active-active-passive", minutes: int = MINUTES) -> Scenario:
    """A bundled scenario without its faults and timeline windows, `minutes` long."""
    base = load(find_scenario(name))
    return dataclasses.replace(
        base,
        scenario=dataclasses.replace(base.scenario, duration=minutes * 60.0),
        faults=(),
        expect=dataclasses.replace(base.expect, windows=()),
    )


def busy_topology() -> Scenario:
    """capacity-saturation (two co-signers kept busy: every node is inside a signing session nearly all the
    time, so a fault on a node lands mid-session), 5 minutes long."""
    return topology("capacity-saturation", minutes=5)


def exchange_topology() -> Scenario:
    """seed-method-2's cluster and policy (exchange and fiat transfers caught by rules that name one signer,
    the initiator, before the Group 1 rule) without its policy change, its exchange sweep made steady (one a
    minute from 1 minute on) so that every minute has an exchange transfer to sign; 20 minutes long."""
    base = topology("seed-method-2")
    sweep = next(w for w in base.workloads if w.name == "exchange-sweep")
    steady = dataclasses.replace(sweep, at=None, count=1, start=60.0, rate=Rate(1, "min"))
    end = base.scenario.duration
    kept = tuple(
        w for w in base.workloads if not w.name.startswith("exchange-sweep") and (w.at is None or w.at < end)
    )
    return dataclasses.replace(base, workloads=(*kept, steady), expect=Expect())


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
            Database,
            "_consumed",
            property(lambda self: mpc.ConsumedNonces(), lambda self, value: None),  # a ledger that forgets
            raising=False,
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


@contextlib.contextmanager
def sign_twice_after_a_failover(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """When the SaaS gives up on a slow node (no progress within the attempt timeout, or its connection
    lost for the grace period) and fails over, it leaves that node's session open instead of closing it
    (no abort, the cloud nonces kept), and a late signature share is combined and released without checking
    that the node that took over has meanwhile signed. A fault-free run never gives up on a node."""
    real_close = signing.SigningService._close

    def close(self: signing.SigningService, session: Any, outcome: str, reason: str, cause: str = "") -> None:
        if outcome != signing.RETRY or session.outcome is not None:
            real_close(self, session, outcome, reason, cause)
            return
        session.outcome = session.attempt.outcome = outcome  # the attempt loop fails over...
        session.reason = session.attempt.reason = reason  # ...but the session stays registered
        session.attempt.cause = cause
        self.ctx.record("attempt_ended", tx=session.tx.id, session=session.id, outcome=outcome, reason=reason)
        session.progress()

    async def on_signature_share(self: signing.SigningService, cosigner: Any, msg: Any) -> None:
        session = await self._cloud_round(cosigner, msg.session_id, "share")
        self._release(session, mpc.SignatureShare.from_bytes(msg.share))  # no "already signed?" check
        self._sessions.pop(session.id, None)

    with monkeypatch.context() as m:
        m.setattr(signing.SigningService, "_close", close)
        m.setattr(signing.SigningService, "on_signature_share", on_signature_share)
        yield


@contextlib.contextmanager
def spread_exchange_transfers_on_failover(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ "HA for exchange transfers": when no co-signer of the one API user an exchange or fiat transfer may
    be signed by is online, the SaaS offers the transfer to the co-signers of every other signing API user,
    as it would across a group, ignoring the single-signer rule. With every co-signer up it never shows."""
    real_sign = signing.SigningService.sign

    async def sign(self: signing.SigningService, tx: Any, state: Any, candidates: Sequence[str]) -> None:
        if tx.source.split(":", 1)[0] in ("exchange", "fiat") and not self._candidates(state, candidates, ()):
            others = [
                name
                for name, user in state.workspace.api_users.items()
                if name not in candidates and user.can_sign
            ]
            candidates = (*candidates, *others)
        await real_sign(self, tx, state, candidates)

    with monkeypatch.context() as m:
        m.setattr(signing.SigningService, "sign", sign)
        yield
