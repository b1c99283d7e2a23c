"""Authentication as Fireblocks does it: every JWT fault is a 401 with Fireblocks' error body, and each
has its own message; roles are enforced with 403."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fireblocks.client import Fireblocks
from fireblocks.client_configuration import ClientConfiguration
from fireblocks.exceptions import UnauthorizedException
from fireblocks.models import ErrorSchema

from cosigner_ha.testing.local_api import LocalApi
from tests.saas_sim.rest.conftest import body_of, sdk, signed_headers

URI = "/v1/vault/accounts_paged?limit=1"


def other_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def get(local: LocalApi, headers: dict[str, str], uri: str = URI) -> httpx.Response:
    return httpx.get(local.base_url.removesuffix("/v1") + uri, headers=headers)


def refusal(response: httpx.Response) -> tuple[int, str]:
    assert response.status_code == 401, response.text
    error = ErrorSchema.from_json(response.text)
    assert error is not None and error.message and isinstance(error.code, int)
    return error.code, error.message


def test_a_correct_request_passes(shared: LocalApi) -> None:
    assert get(shared, signed_headers(shared, "ops", URI)).status_code == 200


def test_every_jwt_fault_is_refused_with_its_own_message(shared: LocalApi) -> None:
    now = int(time.time())
    ops = shared.users["ops"]
    faults: dict[str, dict[str, Any]] = {
        "wrong key": {"key": other_key()},
        "wrong uri": {"claims": {"uri": "/v1/vault/accounts_paged?limit=2"}},
        "uri without /v1": {"claims": {"uri": "/vault/accounts_paged?limit=1"}},
        "wrong body hash": {"claims": {"bodyHash": "0" * 64}},
        "expired": {"claims": {"iat": now - 120, "exp": now - 65}},
        "future iat": {"claims": {"iat": now + 600, "exp": now + 620}},
        "too long a lifetime": {"claims": {"exp": now + 3600}},
        "unknown api key": {"api_key": str(uuid.uuid4())},
        "sub is another key": {"claims": {"sub": shared.users["admin"].api_key}},
        "no sub": {"claims": {"sub": None}},
        "no nonce": {"claims": {"nonce": None}},
    }
    seen: dict[str, str] = {}
    for name, fault in faults.items():
        code, message = refusal(get(shared, signed_headers(shared, "ops", URI, **fault)))
        assert message not in seen.values(), f"{name!r} has the message of {seen}"
        seen[name] = message
    assert (
        "signature" in seen["wrong key"]
        and "URL" in seen["wrong uri"]
        and "body hash" in seen["wrong body hash"]
    )
    assert seen["expired"] == "The request has expired."
    assert "Token was not accepted" in seen["unknown api key"]
    # a nonce is good once
    headers = signed_headers(shared, "ops", URI)
    assert get(shared, headers).status_code == 200
    code, message = refusal(get(shared, headers))
    assert code == -11 and "nonce" in message and message not in seen.values()
    # missing headers
    code, message = refusal(get(shared, {"X-API-Key": ops.api_key}))
    assert code == -3 and "JWT is missing" in message
    code, message = refusal(get(shared, {"Authorization": headers["Authorization"]}))
    assert code == -2
    code, message = refusal(get(shared, {"X-API-Key": ops.api_key, "Authorization": "Bearer not-a-jwt"}))
    assert code == -5 and "Invalid token format" in message


def test_a_post_binds_its_body(shared: LocalApi) -> None:
    body = body_of({"assetId": "ETH"})
    headers = signed_headers(shared, "ops", "/v1/transactions", body)
    tampered = body_of({"assetId": "BTC"})
    response = httpx.post(shared.base_url + "/transactions", content=tampered, headers=headers)
    assert refusal(response)[0] == -9


def test_the_sdk_with_a_wrong_secret_is_refused(shared: LocalApi) -> None:
    config = shared.sdk_config("ops") | {"secret_key": other_key()}
    with Fireblocks(ClientConfiguration(**config)) as client, pytest.raises(UnauthorizedException) as caught:
        client.vaults.get_paged_vault_accounts().result()
    error = ErrorSchema.from_json(caught.value.body)
    assert error is not None and error.code == -1


def test_admin_calls_need_an_admin_role(shared: LocalApi) -> None:
    from fireblocks.exceptions import ForbiddenException
    from fireblocks.models import ErrorResponse, LegacyPolicyRules

    for user in ("ops", "auditor", "signer-a"):
        client = sdk(shared, user)
        with pytest.raises(ForbiddenException) as caught:
            client.policy_editor_beta.publish_policy_rules(LegacyPolicyRules(rules=[])).result()
        assert caught.value.data.code == -8
        with pytest.raises(ForbiddenException):
            client.cosigners_beta.rename_cosigner("nitro-a", {"name": "x"}).result()
        with pytest.raises(ForbiddenException) as caught:
            client.api_user.get_api_users().result()
        assert isinstance(caught.value.data, ErrorResponse) and caught.value.data.error.type == "FORBIDDEN"
