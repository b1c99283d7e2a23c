"""Transaction webhooks as Fireblocks sends them: `TRANSACTION_CREATED` when a transaction is submitted and
`TRANSACTION_STATUS_UPDATED` on every status change, each a JSON body `{type, tenantId, timestamp, data}`
(`data` the transaction as `GET /v1/transactions/{id}` shows it) signed in the `Fireblocks-Signature`
header: base64 of RSA-SHA512 (PKCS#1 v1.5) over the raw body, verifiable with the published public key.

The notifier follows the SaaS's trace; delivery goes through `send(url, body, headers)`, which the runtime
gives (an HTTP client), one task per URL so that a slow receiver delays only itself; a failed delivery is
tried again after 1, 5 and 30 seconds, then given up (counted in `failed`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cosigner_ha.env import Event
from cosigner_ha.saas_sim.rest.app import RestApi
from cosigner_ha.saas_sim.rest.transactions import view

SIGNATURE_HEADER = "Fireblocks-Signature"
CREATED = "TRANSACTION_CREATED"
STATUS_UPDATED = "TRANSACTION_STATUS_UPDATED"
#: Trace events that change a transaction's status.
STATUS_EVENTS = ("tx_status", "completed", "failed", "rejected", "blocked", "cancelled")
#: Notifications waiting per URL before new ones are dropped (and counted) rather than piling up.
BACKLOG = 10_000
#: Pauses before the second and later attempts of a delivery that failed (then it is given up, counted).
RETRY_DELAYS = (1.0, 5.0, 30.0)

Send = Callable[[str, bytes, dict[str, str]], Awaitable[None]]


def sign(key: rsa.RSAPrivateKey, body: bytes) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA512())).decode()


def verify(public_key: rsa.RSAPublicKey, body: bytes, signature: str) -> bool:
    """What a receiver does with the header (here for tests and docs)."""
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(signature), body, padding.PKCS1v15(), hashes.SHA512())
    except (InvalidSignature, ValueError):
        return False
    return True


class WebhookNotifier:
    def __init__(self, api: RestApi, urls: Sequence[str], key: rsa.RSAPrivateKey, send: Send) -> None:
        self.api = api
        self.urls = list(urls)
        self.key = key
        self._send = send
        self.dropped = 0
        self.failed = 0
        self.delivered = 0
        self._streams: list[tuple[MemoryObjectSendStream[bytes], MemoryObjectReceiveStream[bytes]]] = [
            anyio.create_memory_object_stream[bytes](BACKLOG) for _ in self.urls
        ]

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Follow the SaaS and deliver until cancelled."""
        self.api.saas.env.trace.subscribe(self._on_event)
        async with anyio.create_task_group() as tasks:
            for url, (_, receive) in zip(self.urls, self._streams, strict=True):
                tasks.start_soon(self._deliver, url, receive)
            task_status.started()

    def _on_event(self, event: Event) -> None:
        if event.kind == "submitted":
            kind = CREATED
        elif event.kind in STATUS_EVENTS:
            kind = STATUS_UPDATED
        else:
            return
        api = self.api
        try:  # called inside the SaaS's own steps: a failure here must never reach them
            tx = api.saas.transaction(event.fields["tx"])
            if tx.workspace_id != api.workspace.id:
                return
            body = self.body(kind, view(api, tx))
        except Exception:
            self.failed += 1
            return
        for send, _ in self._streams:
            try:
                send.send_nowait(body)
            except anyio.WouldBlock:
                self.dropped += 1

    def body(self, kind: str, data: dict[str, Any]) -> bytes:
        timestamp = int(self.api.saas.env.clock.wall() * 1000)
        payload = {"type": kind, "tenantId": self.api.workspace.id, "timestamp": timestamp, "data": data}
        return json.dumps(payload, separators=(",", ":")).encode()

    async def _deliver(self, url: str, receive: MemoryObjectReceiveStream[bytes]) -> None:
        async with receive:
            async for body in receive:
                headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(self.key, body)}
                for delay in (0.0, *RETRY_DELAYS):
                    await self.api.saas.env.clock.sleep(delay)
                    try:
                        await self._send(url, body, headers)
                    except Exception:  # down or answering an error: try again later
                        continue
                    self.delivered += 1
                    break
                else:
                    self.failed += 1
