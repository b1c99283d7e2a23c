"""Transactions through the official SDK against the local API: created, signed by a co-signer node,
COMPLETED with a signature any Ed25519 library verifies; BLOCK rules, external ids, idempotency, listing,
cancellation, balances; every answer deserialised by the SDK's own models."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fireblocks.exceptions import BadRequestException, ForbiddenException, NotFoundException
from fireblocks.models import (
    CancelTransactionResponse,
    CreateTransactionResponse,
    DestinationTransferPeerPath,
    ErrorSchema,
    OneTimeAddress,
    SourceTransferPeerPath,
    TransactionRequest,
    TransactionRequestAmount,
    TransactionResponse,
    VaultAccount,
    VaultAsset,
)
from nacl.signing import VerifyKey

from cosigner_ha.testing.local_api import LocalApi
from tests.saas_sim.rest.conftest import TERMINAL, body_of, result, sdk, signed_headers, wait_for


def request(
    amount: str = "1.5",
    asset: str = "ETH",
    source: str = "hot",
    wallet: str = "partner-a",
    external: str | None = None,
) -> TransactionRequest:
    return TransactionRequest(
        asset_id=asset,
        amount=TransactionRequestAmount(amount),
        source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id=source),
        destination=DestinationTransferPeerPath(type="EXTERNAL_WALLET", id=wallet),
        note="from the test",
        external_tx_id=external,
    )


def finished(local: LocalApi, tx_id: str) -> TransactionResponse:
    client = sdk(local, "ops")

    def check() -> TransactionResponse | None:
        tx = result(client.transactions.get_transaction(tx_id), TransactionResponse)
        return tx if tx.status in TERMINAL else None

    return wait_for(check)


def test_a_transaction_completes_with_a_signature_that_verifies(shared: LocalApi) -> None:
    client = sdk(shared, "ops")
    external = f"ext-{uuid.uuid4()}"
    created = result(
        client.transactions.create_transaction(transaction_request=request(external=external)),
        CreateTransactionResponse,
    )
    assert created.id and created.status == "SUBMITTED"
    tx = finished(shared, created.id)
    assert tx.status == "COMPLETED", (tx.status, tx.sub_status)
    users = shared.users
    assert tx.created_by == users["ops"].api_key
    assert tx.signed_by is not None and tx.signed_by[0] in (
        users["signer-a"].api_key,
        users["signer-b"].api_key,
    )
    assert tx.external_tx_id == external and tx.note == "from the test"
    assert tx.asset_id == "ETH" and tx.operation.value == "TRANSFER"
    assert tx.source is not None and (tx.source.type.value, tx.source.id) == ("VAULT_ACCOUNT", "hot")
    assert tx.destination is not None and (tx.destination.type.value, tx.destination.id) == (
        "EXTERNAL_WALLET",
        "partner-a",
    )
    assert tx.amount == 1.5 and tx.amount_info is not None and tx.amount_info.amount == "1.5"
    assert tx.amount_info.amount_usd == "4500.00"
    assert tx.created_at is not None and tx.last_updated is not None and tx.last_updated >= tx.created_at
    (signed,) = tx.signed_messages or []
    assert signed.algorithm == "MPC_EDDSA_ED25519"
    assert signed.signature is not None and signed.signature.full_sig and signed.public_key and signed.content
    VerifyKey(bytes.fromhex(signed.public_key)).verify(
        bytes.fromhex(signed.content), bytes.fromhex(signed.signature.full_sig)
    )
    again = result(client.transactions.get_transaction_by_external_id(external), TransactionResponse)
    assert again.id == tx.id


def test_a_block_rule_blocks(shared: LocalApi) -> None:
    created = result(
        sdk(shared, "ops").transactions.create_transaction(transaction_request=request(wallet="sanctioned")),
        CreateTransactionResponse,
    )
    tx = finished(shared, created.id)
    assert (tx.status, tx.sub_status) == ("BLOCKED", "BLOCKED_BY_POLICY")
    assert not tx.signed_by and not tx.signed_messages


def test_the_same_idempotency_key_gives_the_same_answer(shared: LocalApi) -> None:
    client = sdk(shared, "ops")
    key = str(uuid.uuid4())
    first = result(
        client.transactions.create_transaction(idempotency_key=key, transaction_request=request("0.1")),
        CreateTransactionResponse,
    )
    second = result(
        client.transactions.create_transaction(idempotency_key=key, transaction_request=request("0.1")),
        CreateTransactionResponse,
    )
    third = result(
        client.transactions.create_transaction(
            idempotency_key=str(uuid.uuid4()), transaction_request=request("0.1")
        ),
        CreateTransactionResponse,
    )
    assert first.id == second.id != third.id


def test_a_repeated_external_id_is_refused(shared: LocalApi) -> None:
    client = sdk(shared, "ops")
    external = f"ext-{uuid.uuid4()}"
    client.transactions.create_transaction(transaction_request=request("0.1", external=external)).result()
    with pytest.raises(BadRequestException) as caught:
        client.transactions.create_transaction(transaction_request=request("0.1", external=external)).result()
    error = caught.value.data
    assert isinstance(error, ErrorSchema)
    assert (
        error.message is not None and error.message.startswith("externalTxId:") and external in error.message
    )


def test_a_viewer_reads_but_cannot_create(shared: LocalApi) -> None:
    viewer = sdk(shared, "auditor")
    with pytest.raises(ForbiddenException) as caught:
        viewer.transactions.create_transaction(transaction_request=request()).result()
    assert isinstance(caught.value.data, ErrorSchema) and caught.value.data.code == -8
    assert "VIEWER" in (caught.value.data.message or "")
    listed = viewer.transactions.get_transactions(limit=5).result().data
    assert isinstance(listed, list) and all(isinstance(t, TransactionResponse) for t in listed)


def test_listing_filters_orders_and_limits(shared: LocalApi) -> None:
    client = sdk(shared, "ops")
    ids = [
        result(
            client.transactions.create_transaction(transaction_request=request("0.2")),
            CreateTransactionResponse,
        ).id
        for _ in range(3)
    ]
    for tx_id in ids:
        finished(shared, tx_id)
    newest = client.transactions.get_transactions(limit=2, order_by="createdAt", sort="DESC").result().data
    assert [t.id for t in newest] == [ids[2], ids[1]]
    oldest_first = client.transactions.get_transactions(sort="ASC", limit=500).result().data
    created = [t.created_at for t in oldest_first]
    assert created == sorted(created)
    completed = client.transactions.get_transactions(status="COMPLETED").result().data
    assert completed and all(t.status == "COMPLETED" for t in completed)
    blocked = client.transactions.get_transactions(status="BLOCKED").result().data
    assert all(t.status == "BLOCKED" for t in blocked)
    first = min(t.created_at for t in oldest_first if t.id in ids)
    after = client.transactions.get_transactions(after=str(int(first)), limit=500).result().data
    assert {t.id for t in after} >= set(ids[1:]) - {t.id for t in oldest_first if t.created_at == first}
    assert all(t.created_at > first for t in after)


def test_cancelling_a_completed_transaction_is_refused_and_cancel_answers_success(shared: LocalApi) -> None:
    client = sdk(shared, "ops")
    created = result(
        client.transactions.create_transaction(transaction_request=request("0.1")), CreateTransactionResponse
    )
    tx = finished(shared, created.id)
    assert tx.status == "COMPLETED"
    with pytest.raises(BadRequestException) as caught:
        client.transactions.cancel_transaction(created.id).result()
    assert "can no longer be cancelled" in (caught.value.data.message or "")
    # a transaction still waiting for its signature is cancelled: to a one-time address, which only the
    # unpaired signer-c may sign
    pending = result(
        client.transactions.create_transaction(
            transaction_request=TransactionRequest(
                asset_id="ETH",
                amount=TransactionRequestAmount("0.1"),
                source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id="hot"),
                destination=DestinationTransferPeerPath(
                    type="ONE_TIME_ADDRESS", one_time_address=OneTimeAddress(address="0xabc")
                ),
            )
        ),
        CreateTransactionResponse,
    )
    waiting = wait_for(
        lambda: (
            (
                (tx := result(client.transactions.get_transaction(pending.id), TransactionResponse)).status
                == "PENDING_SIGNATURE"
                and tx
            )
            or None
        )
    )
    assert waiting.address_type == "ONE_TIME" and waiting.destination_address == "0xabc"
    with pytest.raises(ForbiddenException):  # only the initiator cancels
        sdk(shared, "auditor").transactions.cancel_transaction(pending.id).result()
    answer = result(client.transactions.cancel_transaction(pending.id), CancelTransactionResponse)
    assert answer.success is True
    tx = finished(shared, pending.id)
    assert (tx.status, tx.sub_status) == ("CANCELLED", "CANCELLED_BY_USER")


def test_unknown_ids_and_endpoints_answer_404_with_fireblocks_body(shared: LocalApi) -> None:
    client = sdk(shared, "ops")
    with pytest.raises(NotFoundException) as caught:
        client.transactions.get_transaction("no-such-tx").result()
    assert isinstance(caught.value.data, ErrorSchema) and "no-such-tx" in (caught.value.data.message or "")
    with pytest.raises(NotFoundException):
        client.vaults.get_vault_account("no-such-vault").result()
    response = httpx.get(shared.base_url + "/no/such/endpoint")
    assert response.status_code == 404
    body = ErrorSchema.from_json(response.text)
    assert body is not None and body.code is not None and "not served" in (body.message or "")
    response = httpx.delete(shared.base_url + "/transactions")
    assert response.status_code == 404 and ErrorSchema.from_json(response.text) is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "1", "source": {"type": "VAULT_ACCOUNT", "id": "hot"}}, "assetId"),
        ({"assetId": "ETH", "amount": "lots", "source": {"type": "VAULT_ACCOUNT", "id": "hot"}}, "amount"),
        ({"assetId": "ETH", "amount": "1", "source": {"type": "VAULT_ACCOUNT"}}, "source.id"),
        (
            {
                "assetId": "ETH",
                "amount": "1",
                "source": {"type": "VAULT_ACCOUNT", "id": "hot"},
                "destination": {"type": "EXTERNAL_WALLET", "id": "nobody"},
            },
            "destination",
        ),
        (
            {
                "assetId": "DOGE",
                "amount": "1",
                "source": {"type": "VAULT_ACCOUNT", "id": "hot"},
                "destination": {"type": "EXTERNAL_WALLET", "id": "partner-a"},
            },
            "assetId",
        ),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_field(
    shared: LocalApi, body: dict[str, object], field: str
) -> None:
    raw = body_of(body)
    headers = signed_headers(shared, "ops", "/v1/transactions", raw)
    response = httpx.post(shared.base_url + "/transactions", content=raw, headers=headers)
    assert response.status_code == 400, response.text
    error = ErrorSchema.from_json(response.text)
    assert error is not None and (error.message or "").startswith(field), error.message


def test_not_json_is_a_400(shared: LocalApi) -> None:
    raw = b"{not json"
    headers = signed_headers(shared, "ops", "/v1/transactions", raw)
    response = httpx.post(shared.base_url + "/transactions", content=raw, headers=headers)
    assert response.status_code == 400 and "invalid JSON" in response.json()["message"]


def test_vaults_show_balances_that_completed_transfers_move(shared: LocalApi) -> None:
    client = sdk(shared, "ops")
    before = result(client.vaults.get_vault_account_asset("hot", "ETH"), VaultAsset)
    created = result(
        client.transactions.create_transaction(transaction_request=request("2")), CreateTransactionResponse
    )
    assert finished(shared, created.id).status == "COMPLETED"
    after = result(client.vaults.get_vault_account_asset("hot", "ETH"), VaultAsset)
    assert float(after.total or 0) == float(before.total or 0) - 2
    account = result(client.vaults.get_vault_account("treasury"), VaultAccount)
    assert {a.id: a.total for a in account.assets or []}["BTC"] == "2.0"


def test_a_transfer_above_the_available_balance_fails_insufficient_funds(shared: LocalApi) -> None:
    client = sdk(shared, "ops")
    created = result(
        client.transactions.create_transaction(
            transaction_request=request("3", asset="BTC", source="treasury")
        ),
        CreateTransactionResponse,
    )
    tx = finished(shared, created.id)
    assert (tx.status, tx.sub_status) == ("FAILED", "INSUFFICIENT_FUNDS")
    assert result(client.vaults.get_vault_account_asset("treasury", "BTC"), VaultAsset).total == "2.0"


def test_paged_vault_accounts_and_external_wallets(shared: LocalApi) -> None:
    from fireblocks.models import UnmanagedWallet, VaultAccountsPagedResponse

    client = sdk(shared, "auditor")
    page = result(client.vaults.get_paged_vault_accounts(limit=1), VaultAccountsPagedResponse)
    assert [a.id for a in page.accounts or []] == ["hot"] and page.paging is not None and page.paging.after
    rest = result(
        client.vaults.get_paged_vault_accounts(limit=1, after=page.paging.after), VaultAccountsPagedResponse
    )
    assert [a.id for a in rest.accounts or []] == ["treasury"]
    wallets = client.external_wallets.get_external_wallets().result().data
    assert [w.id for w in wallets] == ["partner-a", "sanctioned"] and all(
        isinstance(w, UnmanagedWallet) for w in wallets
    )
    assert (
        result(client.external_wallets.get_external_wallet("partner-a"), UnmanagedWallet).name == "partner-a"
    )
