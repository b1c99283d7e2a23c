"""Transactions: the JSON shape of `policy eval --tx`, with a clear error for every bad field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cosigner_ha.policy import Directory, PolicyError, Transaction
from cosigner_ha.policy.transaction import Peer

GOOD: dict[str, Any] = {
    "initiator": "jaime",
    "operation": "TRANSFER",
    "asset": "ETH",
    "amount": "1.5",
    "source": "vault:hot",
    "destination": "one-time:0xabc",
}


def test_from_dict_derives_the_address_type_and_peers() -> None:
    tx = Transaction.from_dict({**GOOD, "at": 12})
    assert (tx.destination_address, tx.at, tx.units) == ("one-time", 12.0, 1_500_000_000_000_000_000)
    assert tx.source_peer == Peer("VAULT", "hot", None)
    assert tx.destination_peer == Peer("ONE_TIME_ADDRESS", "0xabc", None)
    wallet = Transaction.from_dict({**GOOD, "destination": "wallet:cold", "amount": 2})
    assert wallet.destination_address == "whitelisted" and wallet.destination_peer == Peer(
        "UNMANAGED", "cold", "EXTERNAL"
    )
    assert Transaction.from_dict({**GOOD, "id": "tx-1"}).amount == "1.5"


def test_amounts_finer_than_1e_18_are_dust() -> None:
    assert Transaction.from_dict({**GOOD, "amount": Decimal("1e-19")}).units == 0


BAD = [
    ({"initiator": None}, "initiator", "required field is missing"),
    ({"amount": None}, "amount", "required field is missing"),
    ({"memo": "x"}, "memo", "unknown field; expected only initiator, operation"),
    ({"initiator": ""}, "initiator", "expected a non-empty string, got ''"),
    ({"asset": 5}, "asset", "expected a non-empty string, got 5"),
    ({"operation": "SWAP"}, "operation", "expected one of TRANSFER, CONTRACT_CALL"),
    ({"amount": "lots"}, "amount", "expected a number, got 'lots'"),
    ({"amount": -1}, "amount", "expected a non-negative amount in native units, got -1"),
    ({"amount": True}, "amount", "expected a number, got True"),
    ({"amount": "inf"}, "amount", "expected a finite number"),
    (
        {"source": "wallet:cold"},
        "source",
        "expected vault:<id> | exchange:<id> | fiat:<id>, got 'wallet:cold'",
    ),
    ({"source": "hot"}, "source", "got 'hot'"),
    (
        {"destination": "bank:x"},
        "destination",
        "expected vault:<id> | exchange:<id> | fiat:<id> | wallet:<id> | internal:<id> | contract:<id> | network:<id> | one-time:<id>",
    ),
    (
        {"destination_address": "whitelisted"},
        "destination_address",
        "contradicts destination 'one-time:0xabc'",
    ),
    (
        {"destination_address": "maybe"},
        "destination_address",
        "expected 'whitelisted' or 'one-time', got 'maybe'",
    ),
    ({"at": "noon"}, "at", "expected a finite number of seconds, got 'noon'"),
    ({"at": float("nan")}, "at", "expected a finite number of seconds"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=[b[1] + "-" + b[2][:12] for b in BAD])
def test_bad_fields(change: dict[str, Any], field: str, message: str) -> None:
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(PolicyError) as info:
        Transaction.from_dict(data, origin="--tx")
    assert (info.value.origin, info.value.rule_index, info.value.field) == ("--tx", None, field)
    assert message in str(info.value)


def test_not_an_object() -> None:
    with pytest.raises(PolicyError, match=r"^--tx: expected a JSON object, got list$"):
        Transaction.from_dict([], origin="--tx")


def test_direct_construction_checks_too() -> None:
    with pytest.raises(PolicyError, match=r"transaction, field 'amount'"):
        Transaction("jaime", "TRANSFER", "ETH", -2, "vault:hot", "wallet:cold")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"initiator": "ghost"}, "initiator"),
        ({"source": "vault:nope"}, "source"),
        ({"destination": "wallet:x"}, "destination"),
    ],
)
def test_a_workspace_refuses_unknown_names(directory: Directory, change: dict[str, str], field: str) -> None:
    tx = Transaction.from_dict({**GOOD, **change})
    with pytest.raises(PolicyError) as info:
        directory.check_transaction(tx, origin="--tx")
    assert info.value.field == field
    Directory.permissive().check_transaction(tx, origin="--tx")  # names are taken as given
    directory.check_transaction(Transaction.from_dict(GOOD), origin="--tx")
