"""The reference callback handler keeps bounded state: a day of requests does not grow it without end,
and retries of recent requests are still counted."""

from __future__ import annotations

import random

import jwt
import pytest

from cosigner_ha.handler.reference import (
    KEPT_REQUESTS,
    KEY_ORDERS,
    REMEMBERED,
    HandlerRules,
    RecentCounts,
    ReferenceHandler,
)
from cosigner_ha.node.rsa_keys import generate_rsa_key, public_key_pem, thumbprint


def test_recent_counts_count_attempts_and_forget_the_oldest_ids() -> None:
    counts = RecentCounts(limit=3)
    assert [counts.add(k) for k in ("a", "b", "a", "c", "d")] == [1, 1, 2, 1, 1]
    assert len(counts) == 3
    assert counts.get("b") == 0  # the oldest id went first
    assert counts.get("a") == 2  # "a" was used again after "b", so it stayed
    assert counts.add("a") == 3


def test_retry_first_still_counts_per_request_and_state_stays_bounded() -> None:
    handler = ReferenceHandler(HandlerRules(retry_first=1))
    assert handler.decide({"requestId": "r-1"})["action"] == "RETRY"
    assert handler.decide({"requestId": "r-1"})["action"] == "APPROVE"
    for i in range(REMEMBERED + 50):
        handler.decide({"requestId": f"x-{i}"})
    assert len(handler.attempts) == REMEMBERED
    assert handler.seen.maxlen == handler.raw.maxlen == KEPT_REQUESTS


def test_the_key_order_follows_the_trusted_keys_and_stays_bounded() -> None:
    """The handler remembers which trusted key a JWT header names; a key trusted later, or a key list
    replaced, is honoured at once, and a stream of distinct headers does not grow the memory."""
    node_a, node_b, stranger = (generate_rsa_key(random.Random(i).randbytes) for i in range(3))
    handler = ReferenceHandler(key=generate_rsa_key(random.Random(9).randbytes))
    handler.trust(public_key_pem(node_a))
    handler.trust(public_key_pem(stranger))
    token = jwt.encode({"requestId": "r-1"}, node_b, algorithm="RS256", headers={"kid": thumbprint(node_b)})
    with pytest.raises(ValueError, match="not signed by a known co-signer key"):
        handler.verified(token.encode())
    handler.trust(public_key_pem(node_b))  # trusted after the header's order was worked out
    assert handler.verified(token.encode()) == {"requestId": "r-1"}
    handler.cosigner_keys = [handler.cosigner_keys[0], handler.cosigner_keys[1]]  # node_b no longer
    with pytest.raises(ValueError, match="not signed by a known co-signer key"):
        handler.verified(token.encode())
    handler.trust(public_key_pem(node_b))
    for i in range(KEY_ORDERS + 20):
        other = jwt.encode({"requestId": f"r-{i}"}, node_b, algorithm="RS256", headers={"kid": f"k-{i}"})
        assert handler.verified(other.encode())["requestId"] == f"r-{i}"
    assert len(handler._key_orders) == KEY_ORDERS
