"""The `cosigner_local_api` fixture as a user's integration test uses it (docs/rest-api.md shows this test),
and an API user that brings its own key pair: the scenario names its public key, the secret stays here."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fireblocks.client import Fireblocks
from fireblocks.client_configuration import ClientConfiguration
from fireblocks.models import (
    DestinationTransferPeerPath,
    SourceTransferPeerPath,
    TransactionRequest,
    TransactionRequestAmount,
)

SCENARIO = Path(__file__).resolve().parents[1] / "saas_sim" / "rest" / "local.toml"


def test_a_withdrawal_is_signed(cosigner_local_api: Any) -> None:
    local = cosigner_local_api(SCENARIO)
    with Fireblocks(ClientConfiguration(**local.sdk_config("ops"))) as fireblocks:
        _withdraw(fireblocks)


def _withdraw(fireblocks: Fireblocks) -> None:
    created = (
        fireblocks.transactions.create_transaction(
            transaction_request=TransactionRequest(
                asset_id="ETH",
                amount=TransactionRequestAmount("0.25"),
                source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id="hot"),
                destination=DestinationTransferPeerPath(type="EXTERNAL_WALLET", id="partner-a"),
            )
        )
        .result()
        .data
    )
    deadline = time.monotonic() + 60
    while (tx := fireblocks.transactions.get_transaction(created.id).result().data).status != "COMPLETED":
        assert tx.status not in ("FAILED", "BLOCKED", "REJECTED", "CANCELLED") and time.monotonic() < deadline
        time.sleep(0.2)
    assert tx.signed_messages and tx.signed_messages[0].signature.full_sig


def test_an_api_user_with_its_own_key(cosigner_local_api: Any, tmp_path: Path) -> None:
    secret = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = secret.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "ops.pem").write_bytes(public)
    scenario = tmp_path / "local.toml"
    shutil.copy(SCENARIO, scenario)
    text = scenario.read_text().replace(
        'name = "ops"\nrole = "EDITOR"',
        'name = "ops"\nrole = "EDITOR"\napi_key = "ops-key-1"\npublic_key = "ops.pem"',
    )
    scenario.write_text(text)
    local = cosigner_local_api(scenario)
    assert local.users["ops"].api_key == "ops-key-1" and local.users["ops"].secret_key is None
    pem = secret.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    config = ClientConfiguration(api_key="ops-key-1", secret_key=pem, base_path=local.base_url)
    with Fireblocks(config) as fireblocks:
        page = fireblocks.vaults.get_paged_vault_accounts().result().data
    assert [a.id for a in page.accounts] == ["hot", "treasury"]
