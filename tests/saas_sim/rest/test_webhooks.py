"""Webhooks: TRANSACTION_CREATED and TRANSACTION_STATUS_UPDATED posted to a receiver on loopback, each
signed as Fireblocks signs them (RSA-SHA512 over the body, base64, `Fireblocks-Signature`)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fireblocks.models import (
    CreateTransactionResponse,
    DestinationTransferPeerPath,
    SourceTransferPeerPath,
    TransactionRequest,
    TransactionRequestAmount,
    TransactionResponse,
)

from cosigner_ha.cluster.local_api import WEBHOOK_KEY_FILE
from cosigner_ha.saas_sim.rest.webhooks import SIGNATURE_HEADER, verify
from cosigner_ha.testing.local_api import local_fireblocks
from tests.saas_sim.rest.conftest import SCENARIO, result, sdk, wait_for


class Receiver(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append((body, dict(self.headers.items())))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_transaction_webhooks_are_signed_and_delivered(receiver: Receiver, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhook"
    with local_fireblocks(SCENARIO, webhooks=[url], workdir=tmp_path) as local:
        client = sdk(local, "ops")
        created = result(
            client.transactions.create_transaction(
                transaction_request=TransactionRequest(
                    asset_id="ETH",
                    amount=TransactionRequestAmount("1"),
                    source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id="hot"),
                    destination=DestinationTransferPeerPath(type="EXTERNAL_WALLET", id="partner-a"),
                )
            ),
            CreateTransactionResponse,
        )

        def completed() -> list[dict[str, Any]] | None:
            with receiver.lock:
                bodies = [json.loads(body) for body, _ in receiver.received]
            done = [b for b in bodies if b["data"]["id"] == created.id and b["data"]["status"] == "COMPLETED"]
            return bodies if done else None

        bodies = wait_for(completed)
        public_pem = (tmp_path / WEBHOOK_KEY_FILE).read_text()
        assert public_pem == local.ready.webhook_public_key
    public = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    mine = [b for b in bodies if b["data"]["id"] == created.id]
    assert mine[0]["type"] == "TRANSACTION_CREATED"
    assert {b["type"] for b in mine[1:]} == {"TRANSACTION_STATUS_UPDATED"}
    assert [b["data"]["status"] for b in mine][-1] == "COMPLETED"
    for b in mine:
        assert TransactionResponse.from_dict(b["data"]) is not None and isinstance(b["timestamp"], int)
    for body, headers in receiver.received:
        signature = {k.lower(): v for k, v in headers.items()}[SIGNATURE_HEADER.lower()]
        assert verify(public, body, signature)
        assert not verify(public, body + b" ", signature)


def test_a_failed_delivery_is_tried_again(tmp_path: Path) -> None:
    """The receiver answers 503 to the first attempt of every notification; each arrives on a later try."""
    attempts: dict[bytes, int] = {}
    accepted: list[bytes] = []
    lock = threading.Lock()

    class Flaky(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                attempts[body] = attempts.get(body, 0) + 1
                ok = attempts[body] > 1
                if ok:
                    accepted.append(body)
            self.send_response(200 if ok else 503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        with local_fireblocks(SCENARIO, webhooks=[url], workdir=tmp_path) as local:
            result(
                sdk(local, "ops").transactions.create_transaction(
                    transaction_request=TransactionRequest(
                        asset_id="ETH",
                        amount=TransactionRequestAmount("1"),
                        source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id="hot"),
                        destination=DestinationTransferPeerPath(type="EXTERNAL_WALLET", id="sanctioned"),
                    )
                ),
                CreateTransactionResponse,
            )
            wait_for(lambda: len(accepted) >= 2 or None, timeout=30)  # created, then BLOCKED
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    kinds = [json.loads(body)["type"] for body in accepted]
    assert kinds[:2] == ["TRANSACTION_CREATED", "TRANSACTION_STATUS_UPDATED"]
    assert all(attempts[body] == 2 for body in accepted)
