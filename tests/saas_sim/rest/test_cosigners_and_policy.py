"""The Co-signers API (pair, update the callback handler, unpair, rename) and the TAP policy (read,
publish, the next transaction follows it), through the official SDK; each test on its own server."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fireblocks.models import (
    ApiKey,
    ApiKeysPaginatedResponse,
    CallbackHandlerRequest,
    Cosigner,
    CosignersPaginatedResponse,
    CreateTransactionResponse,
    DestinationTransferPeerPath,
    GetAPIUsersResponse,
    LegacyPolicyAndValidationResponse,
    LegacyPolicyRules,
    LegacyPublishResult,
    PairApiKeyRequest,
    PairApiKeyResponse,
    RenameCosigner,
    SourceTransferPeerPath,
    Status,
    TransactionRequest,
    TransactionRequestAmount,
    TransactionResponse,
    UpdateCallbackHandlerRequest,
    UpdateCallbackHandlerResponse,
)

from cosigner_ha.testing.local_api import LocalApi
from tests.saas_sim.rest.conftest import TERMINAL, result, sdk, wait_for


def settled_status(local: LocalApi, location: str) -> str:
    """Follow a 202's Location (`/v1/cosigners/<id>/api_keys/<key>/<request>`) until the request is final."""
    client = sdk(local, "admin")
    _, _, cosigner, _, key, request_id = location.strip("/").split("/")

    def check() -> str | None:
        status = result(client.cosigners_beta.get_request_status(cosigner, key, request_id), Status)
        return status.status if status.status in ("COMPLETED", "REJECTED", "CANCELLED") else None

    return wait_for(check)


def location_of(answer: Any) -> str:
    """The 202's Location header (HTTP header names are case-insensitive; the SDK hands a plain dict)."""
    return {k.lower(): v for k, v in (answer.headers or {}).items()}["location"]


def keys_of(local: LocalApi, cosigner: str) -> list[str]:
    page = result(sdk(local, "admin").cosigners_beta.get_api_keys(cosigner), ApiKeysPaginatedResponse)
    return [k.id for k in page.data]


def test_cosigners_are_listed_read_and_renamed(fresh: LocalApi) -> None:
    admin = sdk(fresh, "admin")
    page = result(admin.cosigners_beta.get_cosigners(order="ASC"), CosignersPaginatedResponse)
    ascending = [c.id for c in page.data]  # registration order: whichever node paired first
    assert sorted(ascending) == ["nitro-a", "nitro-b"] and all(c.type == "AWS-NITRO" for c in page.data)
    descending = result(admin.cosigners_beta.get_cosigners(), CosignersPaginatedResponse)
    assert [c.id for c in descending.data] == ascending[::-1]
    small = result(admin.cosigners_beta.get_cosigners(order="ASC", page_size=1), CosignersPaginatedResponse)
    assert [c.id for c in small.data] == ascending[:1] and small.next
    rest = result(
        admin.cosigners_beta.get_cosigners(order="ASC", page_size=1, page_cursor=small.next),
        CosignersPaginatedResponse,
    )
    assert [c.id for c in rest.data] == ascending[1:] and rest.next is None
    renamed = result(
        admin.cosigners_beta.rename_cosigner("nitro-a", RenameCosigner(name="primary")), Cosigner
    )
    assert renamed.name == "primary"
    assert result(sdk(fresh, "auditor").cosigners_beta.get_cosigner("nitro-a"), Cosigner).name == "primary"
    assert keys_of(fresh, "nitro-a") == [fresh.users["signer-a"].api_key]
    key = result(admin.cosigners_beta.get_api_key("nitro-a", fresh.users["signer-a"].api_key), ApiKey)
    assert key.last_seen is not None
    users = result(admin.api_user.get_api_users(), GetAPIUsersResponse)
    roles = {
        u.name: (u.role.value if u.role else None, u.status.value if u.status else None) for u in users.users
    }
    assert roles["signer-a"] == ("SIGNER", "READY") and roles["signer-c"] == ("SIGNER", "PENDING_ACTIVATION")
    assert {u.id for u in users.users} == {u.api_key for u in fresh.users.values()}


def test_pair_update_and_unpair_an_api_key(fresh: LocalApi) -> None:
    admin = sdk(fresh, "admin")
    signer_c = fresh.users["signer-c"].api_key
    answer = admin.cosigners_beta.pair_api_key("nitro-a", signer_c, PairApiKeyRequest()).result()
    assert (
        answer.status_code == 202
        and isinstance(answer.data, PairApiKeyResponse)
        and answer.data.id == signer_c
    )
    location = location_of(answer)
    assert location.startswith(f"/v1/cosigners/nitro-a/api_keys/{signer_c}/")
    assert settled_status(fresh, location) == "COMPLETED"
    assert signer_c in keys_of(fresh, "nitro-a")
    # signer-c now signs what the policy gives it: transfers to one-time addresses
    ops = sdk(fresh, "ops")
    created = result(
        ops.transactions.create_transaction(
            transaction_request=TransactionRequest(
                asset_id="ETH",
                amount=TransactionRequestAmount("0.5"),
                source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id="hot"),
                destination=DestinationTransferPeerPath(
                    type="ONE_TIME_ADDRESS", one_time_address={"address": "0xfeed"}
                ),
            )
        ),
        CreateTransactionResponse,
    )
    tx = wait_for(
        lambda: (
            (
                (t := result(ops.transactions.get_transaction(created.id), TransactionResponse)).status
                in TERMINAL
                and t
            )
            or None
        )
    )
    assert tx.status == "COMPLETED" and tx.signed_by == [signer_c]
    # a new callback handler: approved by the owner, then sent to the node
    handler_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = handler_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    handler = CallbackHandlerRequest(url="https://callback-new.example", public_key=pem.decode())
    update = admin.cosigners_beta.update_callback_handler(
        "nitro-a", signer_c, UpdateCallbackHandlerRequest(callback_handler=handler)
    ).result()
    assert update.status_code == 202 and isinstance(update.data, UpdateCallbackHandlerResponse)
    assert settled_status(fresh, location_of(update)) == "COMPLETED"
    key = result(admin.cosigners_beta.get_api_key("nitro-a", signer_c), ApiKey)
    assert key.callback_handler is not None and key.callback_handler.url == "https://callback-new.example"
    # unpairing
    gone = admin.cosigners_beta.unpair_api_key("nitro-a", signer_c).result()
    assert gone.status_code == 202 and isinstance(gone.data, ApiKey) and gone.data.id == signer_c
    assert settled_status(fresh, location_of(gone)) == "COMPLETED"
    assert signer_c not in keys_of(fresh, "nitro-a")


def _rules() -> LegacyPolicyRules:
    block_partner = {
        "type": "TRANSFER",
        "action": "BLOCK",
        "asset": "*",
        "amountCurrency": "USD",
        "amountScope": "SINGLE_TX",
        "amount": 0,
        "periodSec": 0,
        "dst": {"ids": [["partner-a", "UNMANAGED", "*"]]},
    }
    allow = {
        "type": "TRANSFER",
        "action": "ALLOW",
        "asset": "*",
        "amountCurrency": "USD",
        "amountScope": "SINGLE_TX",
        "amount": 0,
        "periodSec": 0,
        "designatedSigners": {"users": ["signer-a"]},
    }
    return LegacyPolicyRules.from_dict({"rules": [block_partner, allow]})


def test_a_published_policy_decides_the_next_transactions(fresh: LocalApi) -> None:
    admin, ops = sdk(fresh, "admin"), sdk(fresh, "ops")
    active = result(admin.policy_editor_beta.get_active_policy_legacy(), LegacyPolicyAndValidationResponse)
    assert [r.action for r in active.policy.rules] == ["BLOCK", "ALLOW", "ALLOW"]
    assert active.validation.status == "SUCCESS"
    published = result(admin.policy_editor_beta.publish_policy_rules(_rules()), LegacyPublishResult)
    assert published.status.value in ("SUCCESS", "PENDING_CONSOLE_APPROVAL")
    assert published.check_result.errors == 0

    def taken_effect() -> LegacyPolicyAndValidationResponse | None:
        now = result(admin.policy_editor_beta.get_active_policy_legacy(), LegacyPolicyAndValidationResponse)
        return now if len(now.policy.rules) == 2 else None

    now = wait_for(taken_effect)
    assert now.policy.metadata.published_by == "admin"
    request = TransactionRequest(
        asset_id="ETH",
        amount=TransactionRequestAmount("0.1"),
        source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id="hot"),
        destination=DestinationTransferPeerPath(type="EXTERNAL_WALLET", id="partner-a"),
    )
    created = result(
        ops.transactions.create_transaction(transaction_request=request), CreateTransactionResponse
    )
    tx = wait_for(
        lambda: (
            (
                (t := result(ops.transactions.get_transaction(created.id), TransactionResponse)).status
                in TERMINAL
                and t
            )
            or None
        )
    )
    assert (tx.status, tx.sub_status) == ("BLOCKED", "BLOCKED_BY_POLICY")


def test_an_invalid_policy_is_reported_and_changes_nothing(fresh: LocalApi) -> None:
    admin = sdk(fresh, "admin")
    rules = _rules().to_dict()["rules"]
    rules[1]["designatedSigners"] = {"users": ["ops"]}  # an EDITOR cannot sign
    published = result(
        admin.policy_editor_beta.publish_policy_rules(LegacyPolicyRules.from_dict({"rules": rules})),
        LegacyPublishResult,
    )
    assert published.status.value == "INVALID_CONFIGURATION" and published.check_result.errors == 1
    (error,) = published.check_result.results[1].errors
    assert error.error_code_name == "SIGNER_ROLE_CANNOT_SIGN" and error.error_field == "designatedSigners"
    active = result(admin.policy_editor_beta.get_active_policy_legacy(), LegacyPolicyAndValidationResponse)
    assert len(active.policy.rules) == 3
