"""The callback client over real sockets: the reference handler served by hypercorn, TLS pinning for real."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import cast

import pytest
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.env import Environment
from cosigner_ha.handler.reference import HandlerRules, ReferenceHandler, serve
from cosigner_ha.node.callback import CallbackClient, CallbackFailure
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import public_key_pem
from tests.node.helpers import rsa_key, self_signed_certificate

NODE_KEY = cast(rsa.RSAPrivateKey, rsa_key("node"))
SERVER_KEY = cast(rsa.RSAPrivateKey, rsa_key("server"))
OTHER_KEY = cast(rsa.RSAPrivateKey, rsa_key("other"))
TX = {
    "txId": "tx-9",
    "requestId": "tx-9",
    "asset": "BTC",
    "amount": 1,
    "destinations": [{"amountUSD": 60000}],
}


def write_tls_files(tmp_path: Path) -> tuple[str, str, str]:
    cert = self_signed_certificate(SERVER_KEY, "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_text(cert)
    keyfile.write_bytes(
        SERVER_KEY.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, str(certfile), str(keyfile)


@pytest.mark.timeout(60)
async def test_pinned_tls_over_the_network(tmp_path: Path) -> None:
    cert, certfile, keyfile = write_tls_files(tmp_path)
    handler = ReferenceHandler(HandlerRules(reject_above_usd=1000))
    env = Environment.runtime()
    client = CallbackClient(env, node="n1", signing_key=lambda: NODE_KEY, network=True)
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            functools.partial(serve, certfile=certfile, keyfile=keyfile), handler.app, "127.0.0.1:0"
        )
        url = next(u for u in urls if u.startswith("https://"))
        decision = await client.ask("tx", "u", CallbackSettings(url=url, certificate=cert), TX)
        assert decision.action == "REJECT" and "above the limit of 1000 USD" in decision.reason
        assert handler.seen[0][0] == "/tx_sign_request"
        wrong = self_signed_certificate(OTHER_KEY, "localhost")
        with pytest.raises(CallbackFailure) as caught:
            await client.ask("tx", "u", CallbackSettings(url=url, certificate=wrong), TX)
        assert caught.value.kind == "PIN_MISMATCH"
        await client.aclose()
        nursery.cancel_scope.cancel()


@pytest.mark.timeout(60)
async def test_public_key_mode_over_plain_http_and_a_closed_port() -> None:
    handler = ReferenceHandler(
        HandlerRules(),
        key=cast(rsa.RSAPrivateKey, rsa_key("handler")),
        cosigner_keys=[public_key_pem(NODE_KEY)],
    )
    env = Environment.runtime()
    client = CallbackClient(env, node="n1", signing_key=lambda: NODE_KEY, network=True)
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(serve, handler.app, "127.0.0.1:0")
        settings = CallbackSettings(url=urls[0] + "/", public_key=handler.public_key)
        decision = await client.ask("tx", "u", settings, TX)
        assert decision.action == "APPROVE"
        assert handler.seen[0][0] == "/v2/tx_sign_request"
        nursery.cancel_scope.cancel()
    with pytest.raises(CallbackFailure) as caught:
        await client.ask("tx", "u", settings, TX)
    assert caught.value.kind == "UNREACHABLE"
    await client.aclose()
