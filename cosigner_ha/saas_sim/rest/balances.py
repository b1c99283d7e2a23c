"""Vault balances, when the scenario gives them (`[workspace] balances`): a completed transfer moves the
amount out of its source vault (and into a destination vault), and a transfer above the source's available
balance (total less what pending transfers hold) fails as Fireblocks reports it, FAILED /
INSUFFICIENT_FUNDS, right after its creation.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from cosigner_ha.env import Event
from cosigner_ha.saas_sim.causes import Cause
from cosigner_ha.saas_sim.saas import Saas
from cosigner_ha.saas_sim.transactions import Status, SubStatus, Transaction

INSUFFICIENT_FUNDS = SubStatus.INSUFFICIENT_FUNDS.value


class Balances:
    def __init__(self, initial: Mapping[str, Mapping[str, Decimal | float | int | str]]) -> None:
        self.totals: dict[str, dict[str, Decimal]] = {
            vault: {asset: Decimal(str(amount)) for asset, amount in assets.items()}
            for vault, assets in initial.items()
        }
        self._saas: Saas | None = None

    def attach(self, saas: Saas) -> None:
        """Follow the SaaS's completed transactions (its trace's `completed` events)."""
        self._saas = saas
        saas.env.trace.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.kind != "completed" or self._saas is None:
            return
        tx = self._saas.transaction(event.fields["tx"])
        kind, _, vault = tx.source.partition(":")
        if kind == "vault":
            assets = self.totals.setdefault(vault, {})
            assets[tx.asset] = assets.get(tx.asset, Decimal(0)) - tx.amount
        kind, _, vault = tx.destination.partition(":")
        if kind == "vault":
            assets = self.totals.setdefault(vault, {})
            assets[tx.asset] = assets.get(tx.asset, Decimal(0)) + tx.amount

    def total(self, vault: str, asset: str) -> Decimal:
        return self.totals.get(vault, {}).get(asset, Decimal(0))

    def pending(self, vault: str, asset: str, *, besides: str | None = None) -> Decimal:
        """What transfers from the vault that are not terminal yet hold."""
        if self._saas is None:
            return Decimal(0)
        return sum(
            (
                tx.amount
                for tx in self._saas.transactions
                if not tx.terminal
                and tx.id != besides
                and tx.asset == asset
                and tx.source == f"vault:{vault}"
            ),
            Decimal(0),
        )

    def available(self, vault: str, asset: str) -> Decimal:
        return self.total(vault, asset) - self.pending(vault, asset)

    def reserve(self, saas: Saas, tx: Transaction) -> None:
        """Fail a transfer from a vault that cannot cover it (its own amount not counted as pending)."""
        kind, _, vault = tx.source.partition(":")
        if kind != "vault" or tx.terminal:
            return
        available = self.total(vault, tx.asset) - self.pending(vault, tx.asset, besides=tx.id)
        if tx.amount > available:
            saas.lifecycle.finish(
                tx,
                Status.FAILED,
                INSUFFICIENT_FUNDS,
                f"vault {vault!r} has {available} {tx.asset} available, the transfer needs {tx.amount}",
                cause=Cause.INSUFFICIENT_FUNDS,
            )
