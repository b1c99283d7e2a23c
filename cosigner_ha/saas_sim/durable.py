"""A SaaS whose state survives the process: saved before every event it records, restored on start.

`Saas(..., store=StateStore(path))` restores what the store holds and saves again before each event is
written to the trace (the events follow the change they report), so what the trace shows a restarted
SaaS also knows. A save writes only the rows that changed (`StateStore.save`). On `run`, the work that
was under way is picked up again (`resume`): unfinished transactions continue from their status with the
time their timeouts had already run, open management and configuration-change requests are asked again,
and every signing attempt that was open is abandoned (its node told with `SignAbort`) and signed anew
with fresh nonces. See `snapshot.py` for what is kept and what is deliberately not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cosigner_ha import wire
from cosigner_ha.env import canonical
from cosigner_ha.saas_sim import snapshot
from cosigner_ha.saas_sim.config_changes import ConfigChangeRequest
from cosigner_ha.saas_sim.management import RequestKind, RequestState
from cosigner_ha.saas_sim.state_store import StateStore, StateStoreError
from cosigner_ha.saas_sim.tokens import TokenAuthority
from cosigner_ha.saas_sim.transactions import Transaction

if TYPE_CHECKING:
    from cosigner_ha.saas_sim.saas import Saas

RESTARTED = "the SaaS restarted during the attempt"


def elapsed(saved: Mapping[str, Any], wall: float) -> float:
    """Where a restarted SaaS's clock resumes: how long the saved run had lasted when it last saved, plus
    the wall-clock time since (the time it was down counts toward its timeouts, as at a real SaaS)."""
    meta = saved.get("meta")
    if meta is None:
        return 0.0
    return float(meta["now"]) + max(0.0, wall - float(meta["wall"]))


class Durable:
    def __init__(self, saas: Saas, store: StateStore) -> None:
        self.saas = saas
        self.store = store
        saved = store.load()
        self.restored = bool(saved)
        #: Rows of terminal transactions, which never change again, by id with the shape they were made from.
        self._settled: dict[str, tuple[tuple[Any, ...], str]] = {}
        self._saving = False
        if saved:
            self._restore(saved)
        self.saves = 0

    # --- saving --------------------------------------------------------------------------------------------

    def rows(self) -> dict[str, str]:
        saas = self.saas
        ctx = saas.ctx
        order = {
            "workspace": list(ctx.workspaces),
            "cosigner": [c.id for c in ctx.registry.all()],
            "request": [r.id for r in ctx.requests.all()],
            "config": [c.id for c in saas.config_changes.requests],
            "tx": list(ctx.transactions),
        }
        out: dict[str, Any] = {"meta": {**snapshot.meta_row(ctx), "standby": ctx.standby, "order": order}}
        for ws_id, state in ctx.workspaces.items():
            out[f"workspace/{ws_id}"] = snapshot.workspace_state_row(state)
        for cloud in ctx.clouds:
            out[f"cloud/{cloud.index}"] = cloud.export_keys()
        for cosigner in ctx.registry.all():
            out[f"cosigner/{cosigner.id}"] = snapshot.cosigner_row(cosigner)
        for req in ctx.requests.all():
            out[f"request/{req.id}"] = snapshot.request_row(req)
        for change in saas.config_changes.requests:
            out[f"config/{change.id}"] = snapshot.config_change_row(change)
        for req_id, done in saas.pairing.completed.items():
            out[f"paired/{req_id}"] = snapshot.completed_row(done)
        for cosigner_id, box in ctx.mailboxes.items():
            kept = snapshot.mailbox_row(box.items)
            if kept:
                out[f"mailbox/{cosigner_id}"] = kept
        text = {key: json.dumps(value, sort_keys=True, separators=(",", ":")) for key, value in out.items()}
        for tx in ctx.transactions.values():
            text[f"tx/{tx.id}"] = self._tx_text(tx)
        return text

    def _tx_text(self, tx: Transaction) -> str:
        shape = (tx.status, len(tx.history), tuple(a.outcome for a in tx.attempts), tx.signature)
        if tx.terminal:
            cached = self._settled.get(tx.id)
            if cached is not None and cached[0] == shape:
                return cached[1]
        row = snapshot.transaction_row(tx, self.saas.lifecycle.decisions.get(tx.id))
        text = canonical(row)
        if tx.terminal:
            self._settled[tx.id] = (shape, text)
        return text

    def save(self) -> None:
        if self._saving:  # a record made while building the rows (none today) must not recurse
            return
        self._saving = True
        try:
            if self.store.save(self.rows()):
                self.saves += 1
        finally:
            self._saving = False

    # --- restoring -----------------------------------------------------------------------------------------

    def _restore(self, saved: Mapping[str, Any]) -> None:
        try:
            self._restore_rows(saved)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateStoreError(
                f"{self.store.path}: the saved SaaS state cannot be restored ({type(exc).__name__}: {exc})"
            ) from None

    def _restore_rows(self, saved: Mapping[str, Any]) -> None:
        saas = self.saas
        ctx = saas.ctx
        meta = saved["meta"]
        if meta.get("format") != snapshot.FORMAT:
            raise ValueError(f"state format {meta.get('format')!r}; this version reads {snapshot.FORMAT}")
        ctx.env.ids.resume(meta["ids"])
        ctx.token_key = bytes.fromhex(meta["token_key"])
        ctx.tokens = TokenAuthority(key_bytes=ctx.token_key, wall=ctx.env.clock.wall, new_id=ctx.env.ids.uuid)
        ctx.standby.update(meta["standby"])
        order: dict[str, list[str]] = meta["order"]
        by_kind: dict[str, list[tuple[str, Any]]] = {}
        for key, row in saved.items():
            kind, _, ident = key.partition("/")
            by_kind.setdefault(kind, []).append((ident, row))
        for kind, ids in order.items():  # creation order: "listed order" falls back to registration order
            rank = {ident: i for i, ident in enumerate(ids)}
            by_kind.setdefault(kind, []).sort(key=lambda item: rank.get(item[0], len(rank)))
        for ws_id, row in by_kind.get("workspace", []):
            owner_rng = ctx.env.child(f"owner-device/{ws_id}").randbytes
            state, history = snapshot.workspace_state_from_row(row, owner_rng)
            if state.policy_source is not None:
                state.engine = saas.policy_engine(
                    state.workspace, state.policy_source, state.policy_origin, history
                )
            ctx.workspaces[ws_id] = state
        for index, row in by_kind.get("cloud", []):
            ctx.clouds[int(index) - 1].import_keys(row)
        for _, row in by_kind.get("cosigner", []):
            ctx.registry.restore(snapshot.cosigner_from_row(row))
        for _, row in by_kind.get("request", []):
            ctx.requests.restore(snapshot.request_from_row(row))
        for _, row in by_kind.get("paired", []):
            saas.pairing.restore_completed(snapshot.completed_from_row(row))
        for cosigner_id, row in by_kind.get("mailbox", []):
            ctx.mailbox(cosigner_id).put_back(snapshot.mailbox_from_row(row))
        for _, row in by_kind.get("config", []):
            state = ctx.workspace(row["workspace_id"])
            change = ConfigChangeRequest(
                row["id"],
                row["workspace_id"],
                row["kind"],
                row["payload"],
                row["created_at"],
                saas.config_change_apply(state, row["kind"], row["payload"]),
                status=RequestState(row["status"]),
                detail=row["detail"],
                decided_by=row["decided_by"],
                sent_to=[(c, n) for c, n in row["sent_to"]],
            )
            saas.config_changes.restore(change)
        for _, row in by_kind.get("tx", []):
            tx, decision = snapshot.transaction_from_row(row)
            ctx.transactions[tx.id] = tx
            if decision is not None:
                saas.lifecycle.decisions[tx.id] = decision
            for attempt in tx.attempts:
                if attempt.outcome == "open":  # its session and the clouds' nonces are gone
                    attempt.outcome, attempt.reason = "abandoned", RESTARTED
                    ctx.mailbox(attempt.cosigner_id).put(wire.SignAbort(attempt.session_id, RESTARTED))

    def resume(self) -> None:
        """Inside `Saas.run`, once background work can start: carry on what was under way."""
        if not self.restored:
            return
        saas = self.saas
        ctx = saas.ctx
        ctx.record(
            "saas_restored",
            workspaces=len(ctx.workspaces),
            cosigners=len(ctx.registry.all()),
            transactions=len(ctx.transactions),
            unfinished=sum(1 for tx in ctx.transactions.values() if not tx.terminal),
        )
        for change in saas.config_changes.requests:
            if not change.final:
                saas.config_changes.resume(ctx.workspace(change.workspace_id), change)
        for req in ctx.requests.all():
            if req.final:
                continue
            state = ctx.workspace(req.workspace_id)
            if req.kind is RequestKind.PAIR_API_KEY:
                saas.pairing.resume(state, req)
            else:
                saas.management.resume(state, req)
        for tx in list(ctx.transactions.values()):
            if not tx.terminal:
                saas.lifecycle.resume(tx, saas.lifecycle.decisions.get(tx.id))
