"""The fast engine decides as the plain reference loop does, on generated policies, workspaces, histories."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosigner_ha.policy import (
    Directory,
    PolicyEngine,
    ReferenceEngine,
    Transaction,
    User,
    load_policy,
    validate,
)

CONSOLE = ["c-owner", "c-admin", "c-signer"]
API = ["a0", "a1", "a2", "a3"]
EDITOR = "ed"  # an API user who initiates but cannot sign
INITIATORS = [*CONSOLE, *API, EDITOR]
VAULTS = ["v0", "v1", "v2"]
EXCHANGES = ["x0", "x1"]
FIAT = ["f0"]
WALLETS = ["w0", "w1"]
ASSETS = ["BTC", "ETH", "USDC"]
OPS = ["TRANSFER", "CONTRACT_CALL", "RAW"]

prices = st.fixed_dictionaries(
    {
        a: st.sampled_from([Decimal("0.5"), Decimal(1), Decimal("2.5"), Decimal(100), Decimal("3000.25")])
        for a in ASSETS
    }
)


@st.composite
def workspaces(draw: st.DrawFn) -> Directory:
    group_a = draw(st.lists(st.sampled_from(API), min_size=1, max_size=3, unique=True))
    return Directory(
        users=[User("c-owner", "OWNER"), User("c-admin", "ADMIN"), User("c-signer", "SIGNER")],
        api_users=[
            *(User(a, draw(st.sampled_from(["SIGNER", "ADMIN"]))) for a in API),
            User(EDITOR, "EDITOR"),
        ],
        groups={"g-api": group_a, "g-console": ["c-admin", "c-signer"], "g-empty": []},
        vaults=VAULTS,
        exchanges=EXCHANGES,
        fiat_accounts=FIAT,
        wallets=WALLETS,
        prices_usd=draw(prices),
        eur_usd=draw(st.sampled_from([Decimal("0.8"), Decimal("1.25"), Decimal(1)])),
    )


def _accounts(kinds: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    one = st.sampled_from([f"{k}:{i}" for k, ids in kinds.items() for i in [*ids, "*"]])
    return st.one_of(st.just("*"), one, st.lists(one, min_size=1, max_size=3, unique=True))


SOURCES = {"vault": VAULTS, "exchange": EXCHANGES, "fiat": FIAT}
DESTINATIONS = {"vault": VAULTS, "exchange": EXCHANGES, "wallet": WALLETS, "one-time": ["ota-1"]}
AMOUNTS = [Decimal(0), Decimal(1), Decimal(50), Decimal(100), Decimal(250), Decimal(3000)]


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": draw(st.sampled_from(["ALLOW", "ALLOW", "BLOCK", "2-TIER"]))}
    if draw(st.booleans()):
        rule["operation"] = draw(
            st.one_of(st.sampled_from(OPS), st.lists(st.sampled_from(OPS), min_size=1, unique=True))
        )
    if draw(st.booleans()):
        rule["asset"] = draw(st.sampled_from(ASSETS))
    if draw(st.booleans()):
        rule["initiator"] = draw(
            st.one_of(
                st.sampled_from(INITIATORS),
                st.lists(st.sampled_from(INITIATORS), min_size=1, max_size=3, unique=True),
                st.just({"groups": ["g-api"]}),
                st.just({"groups": ["g-empty"], "users": ["ed"]}),
                st.just({"users": ["c-owner"], "groups": ["g-console"]}),
            )
        )
    if draw(st.booleans()):
        rule["source"] = draw(_accounts(SOURCES))
    if draw(st.booleans()):
        rule["destination"] = draw(_accounts(DESTINATIONS))
    if draw(st.booleans()):
        rule["destination_address"] = draw(st.sampled_from(["whitelisted", "one-time", "*"]))
    if draw(st.booleans()):
        low = draw(st.sampled_from(AMOUNTS))
        amount: dict[str, Any] = {
            "min": str(low),
            "currency": draw(st.sampled_from(["USD", "EUR", "NATIVE"])),
        }
        if draw(st.booleans()):
            amount["max"] = str(low + draw(st.sampled_from([Decimal(1), Decimal(100), Decimal(5000)])))
        rule["amount"] = amount
    if draw(st.integers(0, 2)) == 0:
        per = draw(st.lists(st.sampled_from(["initiator", "source", "destination"]), unique=True))
        rule["over"] = {"window": draw(st.sampled_from(["10s", "1m", 300])), "per": per}
    if rule["action"] == "2-TIER":
        rule["approvers"] = {
            "groups": [{"users": ["c-owner"], "threshold": 1}, {"groups": ["g-console"], "threshold": 2}],
            "logic": draw(st.sampled_from(["AND", "OR"])),
            "allow_operator_as_authorizer": draw(st.booleans()),
        }
    signers = draw(
        st.sampled_from(
            [None, {"groups": ["g-api"]}, ["a0"], ["a1", "a2"], "c-signer", {"groups": ["g-console"]}]
        )
    )
    if signers is not None:
        rule["designated_signers"] = signers
    return rule


@st.composite
def transactions(draw: st.DrawFn) -> list[Transaction]:
    at = 0.0
    found = []
    for _ in range(draw(st.integers(1, 25))):
        at += draw(st.sampled_from([0.0, 0.0, 1.0, 5.0, 10.0, 45.0, 300.0]))
        destination = draw(
            st.sampled_from([f"{k}:{i}" for k, ids in DESTINATIONS.items() for i in ids] + ["one-time:ota-2"])
        )
        found.append(
            Transaction(
                initiator=draw(st.sampled_from(INITIATORS)),
                operation=draw(st.sampled_from(OPS)),
                asset=draw(st.sampled_from(ASSETS)),
                amount=draw(st.sampled_from([*AMOUNTS, Decimal("0.02"), Decimal("0.4"), Decimal("49.99")])),
                source=draw(st.sampled_from([f"{k}:{i}" for k, ids in SOURCES.items() for i in ids])),
                destination=destination,
                at=at,
            )
        )
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    directory=workspaces(),
    raw_rules=st.lists(rules(), max_size=12),
    history=transactions(),
    match=st.sampled_from(["exceed", "at-least"]),
    republish_at=st.integers(0, 30),
)
def test_fast_engine_decides_like_the_reference(
    directory: Directory,
    raw_rules: list[dict[str, Any]],
    history: list[Transaction],
    match: str,
    republish_at: int,
) -> None:
    """Also across a publish: an engine that takes over the history decides as one never replaced."""
    policy = load_policy({"rules": raw_rules, "amount_match": match}, directory, origin="generated")
    if not validate(policy, directory).ok:
        # mixed console/API signers and the like: a workspace never runs such a policy
        return
    fast, reference = PolicyEngine(policy, directory), ReferenceEngine(policy, directory)
    for i, tx in enumerate(history):
        if i == republish_at:
            fast = PolicyEngine(policy, directory, history=fast.history)
        expected = reference.decide(tx)
        assert fast.decide(tx) == expected, tx
        assert fast.decide(tx) == expected, "decide must not change the engine"
        fast.record(tx, expected)
        reference.record(tx, expected)
