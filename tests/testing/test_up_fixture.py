"""The pytest plugin's `cosigner_fireblocks_up` fixture, as a user's integration test uses it: `up` on real
processes for a scenario file, the official SDK pointed at it in one line, every process gone afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fireblocks.client import Fireblocks
from fireblocks.client_configuration import ClientConfiguration
from fireblocks.models import (
    DestinationTransferPeerPath,
    SourceTransferPeerPath,
    TransactionRequest,
    TransactionRequestAmount,
)

from cosigner_ha.testing.up_process import UpFailed, fireblocks_up
from tests.cluster.runtime.test_run_runtime import _left_behind

SCENARIO = Path(__file__).resolve().parents[1] / "saas_sim" / "rest" / "local.toml"
TERMINAL = ("COMPLETED", "FAILED", "BLOCKED", "REJECTED", "CANCELLED")


@pytest.mark.timeout(300)
def test_a_users_suite_signs_through_the_sdk_against_up_processes(
    cosigner_fireblocks_up: Callable[..., Any],
) -> None:
    up = cosigner_fireblocks_up(SCENARIO)
    assert _left_behind(up.workdir)  # the SaaS, owner, proxies and nodes run as processes of their own
    with Fireblocks(ClientConfiguration(**up.sdk_config("ops"))) as client:
        request = TransactionRequest(
            asset_id="ETH",
            amount=TransactionRequestAmount("0.5"),
            source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id="hot"),
            destination=DestinationTransferPeerPath(type="EXTERNAL_WALLET", id="partner-a"),
        )
        created = client.transactions.create_transaction(transaction_request=request).result().data
        deadline = time.monotonic() + 90
        while (tx := client.transactions.get_transaction(created.id).result().data).status not in TERMINAL:
            assert time.monotonic() < deadline, tx.status
            time.sleep(0.2)
    assert tx.status == "COMPLETED", (tx.status, tx.sub_status)
    (signed,) = tx.signed_messages or []
    assert signed.signature is not None and signed.signature.full_sig and signed.public_key
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(signed.public_key)).verify(
        bytes.fromhex(signed.signature.full_sig), bytes.fromhex(signed.content or "")
    )


def test_the_harness_leaves_nothing_behind_and_names_what_up_said(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario]\nname = 'x'\n")
    with (
        pytest.raises(UpFailed, match=r"exited with status 2 before it was ready: error: .*bad\.toml"),
        fireblocks_up(bad, workdir=tmp_path / "w", start_timeout=60),
    ):
        pass
    assert not _left_behind(tmp_path)
