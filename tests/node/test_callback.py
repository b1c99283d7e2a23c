"""The callback client against the reference handler, in-process and in virtual time: every answer, every failure."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.env import Environment, simulate
from cosigner_ha.handler.reference import HandlerRules, ReferenceHandler, amount_usd
from cosigner_ha.node.callback import (
    CallbackClient,
    CallbackDecision,
    CallbackFailure,
    HandlerDirectory,
    InProcessHandler,
    check_settings,
)
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import generate_rsa_key, public_key_pem, thumbprint
from tests.node.helpers import drbg, rsa_key, self_signed_certificate

NODE_KEY = cast(rsa.RSAPrivateKey, rsa_key("node"))
HANDLER_KEY = cast(rsa.RSAPrivateKey, rsa_key("handler"))
OTHER_KEY = cast(rsa.RSAPrivateKey, rsa_key("other"))
URL = "https://risk.example/fb/cb"

TX = {
    "txId": "tx-1",
    "operation": "TRANSFER",
    "sourceType": "VAULT",
    "sourceId": "0",
    "destType": "UNMANAGED",
    "destId": "",
    "asset": "ETH",
    "amount": 2.0,
    "amountStr": "2",
    "destAddressType": "WHITELISTED",
    "destAddress": "0xabc",
    "destinations": [{"amountNative": 2.0, "amountUSD": 6000.0, "dstType": "UNMANAGED"}],
    "requestId": "tx-1",
    "signerId": "signer-a",
}


@dataclasses.dataclass
class Rig:
    env: Environment
    handler: ReferenceHandler
    client: CallbackClient
    settings: CallbackSettings


def run(
    scenario: Callable[[Rig], Awaitable[Any]],
    *,
    rules: HandlerRules | None = None,
    mode: str = "public_key",
    presented: str | None = None,
) -> tuple[Any, Environment]:
    async def main(env: Environment) -> Any:
        directory = HandlerDirectory()
        if mode == "public_key":
            handler = ReferenceHandler(
                rules,
                key=HANDLER_KEY,
                cosigner_keys=[public_key_pem(NODE_KEY)],
                wrong_key=OTHER_KEY,
                prefix="/fb/cb",
            )
            settings = CallbackSettings(url=URL, public_key=handler.public_key)
            directory.register(URL, InProcessHandler(app=handler.app))
        else:
            handler = ReferenceHandler(rules, prefix="/fb/cb")
            cert = self_signed_certificate(HANDLER_KEY, "risk.example")
            settings = CallbackSettings(url=URL, certificate=cert)
            directory.register(
                URL,
                InProcessHandler(app=handler.app, certificate=presented if presented is not None else cert),
            )
        client = CallbackClient(env, node="n1", signing_key=lambda: NODE_KEY, directory=directory)
        try:
            return await scenario(Rig(env, handler, client, settings))
        finally:
            await client.aclose()

    box: list[Environment] = []

    async def capture(env: Environment) -> Any:
        box.append(env)
        return await main(env)

    result = simulate(capture, seed=3)
    return result, box[0]


async def ask_tx(rig: Rig, body: dict[str, Any] | None = None, **kw: Any) -> CallbackDecision:
    return await rig.client.ask("tx", "signer-a", rig.settings, body or TX, **kw)


def failure_of(
    rules: HandlerRules, mode: str = "public_key", presented: str | None = None
) -> tuple[CallbackFailure, Environment]:
    async def scenario(rig: Rig) -> CallbackFailure:
        with pytest.raises(CallbackFailure) as caught:
            await ask_tx(rig)
        return caught.value

    return run(scenario, rules=rules, mode=mode, presented=presented)


def test_no_handler_approves_everything() -> None:
    async def scenario(rig: Rig) -> CallbackDecision:
        return await rig.client.ask("tx", "signer-a", CallbackSettings(), TX)

    decision, env = run(scenario)
    assert decision.action == "APPROVE" and decision.attempts == 0
    assert env.trace.of_kind("callback_response")[0].get("reason") == "no handler"


def test_public_key_mode_sends_a_jwt_signed_by_the_node_on_the_v2_path() -> None:
    async def scenario(rig: Rig) -> tuple[CallbackDecision, ReferenceHandler]:
        return await ask_tx(rig), rig.handler

    (decision, handler), env = run(scenario)
    assert decision == CallbackDecision("APPROVE", "", 1)
    path, body = handler.seen[0]
    assert path == "/fb/cb/v2/tx_sign_request"
    assert body == TX
    token = handler.raw[0].decode()
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": thumbprint(NODE_KEY)}
    assert jwt.decode(token, NODE_KEY.public_key(), algorithms=["RS256"]) == TX
    kinds = [e.kind for e in env.trace.events if e.kind.startswith("callback")]
    assert kinds == ["callback_request", "callback_response"]


def test_reject_above_a_usd_amount_carries_the_reason() -> None:
    async def scenario(rig: Rig) -> CallbackDecision:
        return await ask_tx(rig)

    decision, _ = run(scenario, rules=HandlerRules(reject_above_usd=5000))
    assert decision.action == "REJECT"
    assert "6000 USD is above the limit of 5000 USD" in decision.reason
    assert amount_usd({"amountUSD": 12}) == 12.0


def test_retry_repeats_the_identical_request_on_the_schedule() -> None:
    async def scenario(rig: Rig) -> tuple[CallbackDecision, float, list[bytes]]:
        decision = await ask_tx(rig)
        return decision, rig.env.clock.now(), rig.handler.raw

    (decision, elapsed, raw), _ = run(scenario, rules=HandlerRules(retry_first=2, latency=0.5))
    assert decision.action == "APPROVE" and decision.attempts == 3
    assert len(raw) == 3 and raw[0] == raw[1] == raw[2]
    assert elapsed == pytest.approx(2 * 180 + 3 * 0.5)


def test_retry_forever_gives_up_after_the_retry_limit() -> None:
    failure, env = failure_of(HandlerRules(fault="retry"))
    assert failure.kind == "RETRY_EXHAUSTED"
    assert "limit is 20 retries" in str(failure)
    assert len(env.trace.of_kind("callback_request")) == 21
    assert env.trace.of_kind("callback_request")[-1].t == pytest.approx(20 * 180)


def test_retry_stops_at_the_request_deadline() -> None:
    async def scenario(rig: Rig) -> CallbackFailure:
        with pytest.raises(CallbackFailure) as caught:
            await ask_tx(rig, deadline=rig.env.clock.wall() + 400)
        return caught.value

    failure, env = run(scenario, rules=HandlerRules(fault="retry"))
    assert failure.kind == "DEADLINE"
    assert len(env.trace.of_kind("callback_request")) == 3


def test_ignore_is_for_approvals_only() -> None:
    failure, _ = failure_of(HandlerRules(action="IGNORE"))
    assert failure.kind == "NOT_ALLOWED"

    async def scenario(rig: Rig) -> tuple[CallbackDecision, str]:
        decision = await rig.client.ask(
            "config_change", "signer-a", rig.settings, {"requestId": "cc-1", "type": "UNMANAGED_WALLET"}
        )
        return decision, rig.handler.seen[0][0]

    (decision, path), _ = run(scenario, rules=HandlerRules(action="IGNORE"))
    assert decision.action == "IGNORE" and path == "/fb/cb/v2/config_change_sign_request"


@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        ("timeout", "TIMEOUT", "did not answer within 30 s"),
        ("down", "HTTP_STATUS", "HTTP 503"),
        ("error", "HTTP_STATUS", "HTTP 500"),
        ("garbage", "MALFORMED", "not a JWT"),
        ("bad-signature", "BAD_SIGNATURE", "does not verify with the handler key configured"),
        ("wrong-key", "WRONG_KEY", "not with the handler key configured"),
    ],
)
def test_each_handler_failure_fails_the_request_saying_which_and_is_traced(
    fault: str, kind: str, words: str
) -> None:
    failure, env = failure_of(HandlerRules(fault=fault))
    assert failure.kind == kind
    assert words in str(failure)
    errors = env.trace.of_kind("callback_error")
    assert [e.get("error") for e in errors] == [kind]
    if fault == "timeout":
        assert errors[0].t == pytest.approx(30.0)


def test_certificate_mode_sends_plain_json_without_v2() -> None:
    async def scenario(rig: Rig) -> tuple[CallbackDecision, str, bytes]:
        decision = await ask_tx(rig)
        return decision, rig.handler.seen[0][0], rig.handler.raw[0]

    (decision, path, raw), _ = run(scenario, mode="certificate")
    assert decision.action == "APPROVE" and path == "/fb/cb/tx_sign_request"
    assert raw.startswith(b"{") and b'"txId":"tx-1"' in raw


def test_certificate_mode_refuses_a_handler_presenting_another_certificate() -> None:
    other = self_signed_certificate(OTHER_KEY, "risk.example")
    failure, _ = failure_of(HandlerRules(), mode="certificate", presented=other)
    assert failure.kind == "PIN_MISMATCH"
    assert "presented certificate sha256:" in str(failure) and "the pinned certificate is sha256:" in str(
        failure
    )
    failure, _ = failure_of(HandlerRules(), mode="certificate", presented="")
    assert failure.kind == "PIN_MISMATCH" and "presented no certificate" in str(failure)


def test_certificate_mode_refuses_an_answer_that_is_not_json() -> None:
    failure, _ = failure_of(HandlerRules(fault="garbage"), mode="certificate")
    assert failure.kind == "MALFORMED" and "not JSON" in str(failure)


def test_python_callable_handlers() -> None:
    async def scenario(rig: Rig) -> list[Any]:
        out: list[Any] = []
        rig.client.directory.register(
            "https://fn.example",
            InProcessHandler(
                function=lambda body: {
                    "action": "REJECT",
                    "rejectionReason": "no",
                    "requestId": body["requestId"],
                }
            ),
        )
        settings = CallbackSettings(url="https://fn.example", public_key=rig.handler.public_key)
        out.append(await rig.client.ask("tx", "u", settings, TX))

        async def slow(body: dict[str, Any]) -> dict[str, Any]:
            await rig.env.clock.sleep(31)
            return {"action": "APPROVE"}

        rig.client.directory.register("https://slow.example", InProcessHandler(function=slow))
        with pytest.raises(CallbackFailure) as caught:
            await rig.client.ask("tx", "u", dataclasses.replace(settings, url="https://slow.example"), TX)
        out.append(caught.value.kind)
        rig.client.directory.register(
            "https://bad.example", InProcessHandler(function=lambda body: ["APPROVE"])
        )  # type: ignore[arg-type,return-value]
        with pytest.raises(CallbackFailure) as caught:
            await rig.client.ask("tx", "u", dataclasses.replace(settings, url="https://bad.example"), TX)
        out.append(str(caught.value))
        rig.client.directory.register(
            "https://echo.example",
            InProcessHandler(function=lambda body: {"action": "APPROVE", "requestId": "other"}),
        )
        with pytest.raises(CallbackFailure) as caught:
            await rig.client.ask("tx", "u", dataclasses.replace(settings, url="https://echo.example"), TX)
        out.append(str(caught.value))
        return out

    (rejected, slow, bad, echo), _ = run(scenario)
    assert rejected.action == "REJECT" and rejected.reason == "no"
    assert slow == "TIMEOUT"
    assert bad == "MALFORMED: the answer is a list, expected an object"
    assert "for request 'other', not 'tx-1'" in echo


def test_an_unregistered_handler_is_unreachable_in_simulation() -> None:
    async def scenario(rig: Rig) -> CallbackFailure:
        with pytest.raises(CallbackFailure) as caught:
            await rig.client.ask(
                "tx", "u", dataclasses.replace(rig.settings, url="https://nowhere.example"), TX
            )
        return caught.value

    failure, _ = run(scenario)
    assert failure.kind == "UNREACHABLE" and "https://nowhere.example" in str(failure)


def test_bad_callback_settings_are_refused_with_the_reason() -> None:
    pem = public_key_pem(HANDLER_KEY)
    cert = self_signed_certificate(HANDLER_KEY)
    check_settings(CallbackSettings())
    check_settings(CallbackSettings(url=URL, public_key=pem))
    check_settings(CallbackSettings(url=URL, certificate=cert))
    small = generate_rsa_key(drbg("small").randbytes, bits=1024)
    cases = {
        "not an http(s) URL": CallbackSettings(url="ftp://x", public_key=pem),
        "both a public key and a certificate": CallbackSettings(url=URL, public_key=pem, certificate=cert),
        "not a PEM public key": CallbackSettings(url=URL, public_key="hello"),
        "RSA-1024; at least RSA-2048": CallbackSettings(url=URL, public_key=public_key_pem(small)),
        "not a PEM X.509 certificate": CallbackSettings(url=URL, certificate="-----BEGIN CERTIFICATE-----"),
        "needs an https URL": CallbackSettings(url="http://x.example", certificate=cert),
        "no URL": CallbackSettings(public_key=pem),
    }
    for words, settings in cases.items():
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
            check_settings(settings)


def test_rsa_keys_are_a_function_of_the_seed_and_sign_verifiably() -> None:
    a = generate_rsa_key(drbg("same").randbytes)
    b = generate_rsa_key(drbg("same").randbytes)
    assert public_key_pem(a) == public_key_pem(b) and a.key_size == 2048
    assert public_key_pem(a) != public_key_pem(generate_rsa_key(drbg("different").randbytes))
    token = jwt.encode({"x": 1}, a, algorithm="RS256")
    assert token == jwt.encode({"x": 1}, b, algorithm="RS256")  # PKCS#1 v1.5 is deterministic
    assert jwt.decode(token, a.public_key(), algorithms=["RS256"]) == {"x": 1}


@pytest.mark.parametrize(
    ("signer", "kid", "accepted"),
    [
        ("node", "node", True),  # the key the kid names is tried first
        ("node", None, True),  # no kid: every trusted key in turn, as before
        ("node", "other", True),  # a kid naming another trusted key only changes the order of the tries
        ("node", "garbage!", True),
        ("stranger", "node", False),  # a kid is no credential: the signature must verify
    ],
)
def test_a_handler_trusting_several_cosigners_checks_the_key_the_request_names_first(
    signer: str, kid: str | None, accepted: bool
) -> None:
    keys = {"node": NODE_KEY, "other": OTHER_KEY, "stranger": HANDLER_KEY}
    handler = ReferenceHandler(
        key=HANDLER_KEY, cosigner_keys=[public_key_pem(OTHER_KEY), public_key_pem(NODE_KEY)]
    )
    headers = {} if kid is None else {"kid": thumbprint(keys[kid]) if kid in keys else kid}
    token = jwt.encode(TX, keys[signer], algorithm="RS256", headers=headers)
    if accepted:
        assert handler._read(token.encode()) == TX
    else:
        with pytest.raises(ValueError, match="not signed by a known co-signer key"):
            handler._read(token.encode())


@pytest.mark.parametrize("mode", ["public_key", "certificate"])
def test_an_in_process_app_sees_the_request_an_http_client_sends(mode: str) -> None:
    """The ASGI app gets what httpx's `Request(content=...)` would carry: method, path, Host, content type
    and length, the body whole."""
    seen: list[tuple[dict[str, Any], bytes]] = []
    reference = ReferenceHandler(key=HANDLER_KEY if mode == "public_key" else None, prefix="/fb/cb")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        messages = [await receive()]
        while messages[-1].get("more_body", False):
            messages.append(await receive())
        seen.append((scope, b"".join(m["body"] for m in messages)))
        replay = iter(messages)

        async def again() -> dict[str, Any]:
            return next(replay, {"type": "http.disconnect"})

        await reference.app(scope, again, send)

    async def main(env: Environment) -> CallbackDecision:
        directory = HandlerDirectory()
        cert = self_signed_certificate(HANDLER_KEY, "risk.example")
        directory.register(URL, InProcessHandler(app=app, certificate=cert))
        if mode == "public_key":
            reference.trust(public_key_pem(NODE_KEY))
            settings = CallbackSettings(url=URL, public_key=reference.public_key)
        else:
            settings = CallbackSettings(url=URL, certificate=cert)
        client = CallbackClient(env, node="n1", signing_key=lambda: NODE_KEY, directory=directory)
        return await client.ask("tx", "signer-a", settings, TX)

    assert simulate(main, seed=3) == CallbackDecision("APPROVE", "", 1)
    ((scope, body),) = seen
    expected = httpx.Request(
        "POST",
        "https://risk.example" + scope["path"],
        content=body,
        headers={"content-type": "text/plain" if mode == "public_key" else "application/json"},
    )
    assert scope["method"] == "POST"
    assert scope["path"] == (
        "/fb/cb/v2/tx_sign_request" if mode == "public_key" else "/fb/cb/tx_sign_request"
    )
    assert scope["headers"] == [(k.lower(), v) for k, v in expected.headers.raw]
    assert [k for k, _ in scope["headers"]] == [b"host", b"content-type", b"content-length"]
    assert scope["server"] == ("risk.example", None) and scope["scheme"] == "https"
    assert reference.verified(body) == TX


@pytest.mark.parametrize("encoding", ["chunked", "gzip"])
def test_an_answer_sent_in_pieces_or_compressed_is_read_whole(encoding: str) -> None:
    """The client reads what an HTTP client would: an app's body sent in several messages, joined; a body
    the app compressed (`content-encoding: gzip`), decompressed."""
    import gzip

    reference = ReferenceHandler(key=HANDLER_KEY, cosigner_keys=[public_key_pem(NODE_KEY)], prefix="/fb/cb")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        answers: list[MutableMapping[str, Any]] = []

        async def keep(message: MutableMapping[str, Any]) -> None:
            answers.append(message)

        await reference.app(scope, receive, keep)
        start, *bodies = answers
        body = b"".join(m.get("body", b"") for m in bodies)
        headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
        if encoding == "gzip":
            body = gzip.compress(body)
            headers.append((b"content-encoding", b"gzip"))
        await send({**start, "headers": headers})
        for piece in (body[:7], body[7:20], body[20:]):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def main(env: Environment) -> CallbackDecision:
        directory = HandlerDirectory()
        directory.register(URL, InProcessHandler(app=app))
        settings = CallbackSettings(url=URL, public_key=reference.public_key)
        client = CallbackClient(env, node="n1", signing_key=lambda: NODE_KEY, directory=directory)
        return await client.ask("tx", "signer-a", settings, TX)

    assert simulate(main, seed=3) == CallbackDecision("APPROVE", "", 1)
