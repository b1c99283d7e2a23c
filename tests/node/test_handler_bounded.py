"""The reference callback handler keeps bounded state: a day of requests does not grow it without end,
and retries of recent requests are still counted."""

from __future__ import annotations

from cosigner_ha.handler.reference import (
    KEPT_REQUESTS,
    REMEMBERED,
    HandlerRules,
    RecentCounts,
    ReferenceHandler,
)


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
