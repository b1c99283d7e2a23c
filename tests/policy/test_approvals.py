"""2-TIER approval tracking: AND/OR, thresholds, the initiator's own approval, first rejection ends it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.policy import ApprovalGroup, ApprovalSpec, ApprovalTracker

TWO_GROUPS = (ApprovalGroup(("tywin", "cersei"), 2), ApprovalGroup(("jaime", "varys"), 1))


def test_and_needs_every_group_to_reach_its_threshold() -> None:
    t = ApprovalTracker(ApprovalSpec(TWO_GROUPS, "AND"), initiator="ops")
    assert t.approve("tywin") == "PENDING"
    assert t.approve("jaime") == "PENDING"
    assert t.approve("cersei") == "APPROVED"
    assert t.awaiting == ()


def test_or_needs_one_group() -> None:
    t = ApprovalTracker(ApprovalSpec(TWO_GROUPS, "OR"), initiator="ops")
    assert t.approve("varys") == "APPROVED"


def test_a_rejection_before_the_threshold_ends_it() -> None:
    t = ApprovalTracker(ApprovalSpec(TWO_GROUPS, "OR"), initiator="ops")
    t.approve("tywin")
    assert t.reject("cersei") == "REJECTED"
    assert t.approve("varys") == "REJECTED"  # later answers change nothing


def test_a_rejection_after_approval_changes_nothing() -> None:
    t = ApprovalTracker(ApprovalSpec(TWO_GROUPS, "OR"), initiator="ops")
    t.approve("jaime")
    assert t.reject("tywin") == "APPROVED"


def test_the_initiator_counts_only_when_allowed() -> None:
    spec = ApprovalSpec((ApprovalGroup(("tywin", "cersei"), 1),), "AND", allow_operator_as_authorizer=False)
    t = ApprovalTracker(spec, initiator="tywin")
    assert t.eligible == ("cersei",)
    with pytest.raises(
        ValueError, match="is the initiator and the rule does not allow the operator as authorizer"
    ):
        t.approve("tywin")
    allowed = ApprovalTracker(
        ApprovalSpec(spec.groups, "AND", allow_operator_as_authorizer=True), initiator="tywin"
    )
    assert allowed.approve("tywin") == "APPROVED"


def test_answers_from_strangers_and_changed_answers_are_refused() -> None:
    t = ApprovalTracker(ApprovalSpec(TWO_GROUPS), initiator="ops")
    with pytest.raises(ValueError, match="'bran' is not an approver of this rule"):
        t.approve("bran")
    t.approve("tywin")
    assert t.approve("tywin") == "PENDING"  # repeating an answer is harmless
    with pytest.raises(ValueError, match="'tywin' already approved; answers are final"):
        t.reject("tywin")


def test_a_member_of_two_groups_counts_in_both() -> None:
    spec = ApprovalSpec((ApprovalGroup(("tywin",), 1), ApprovalGroup(("tywin", "jaime"), 1)), "AND")
    assert ApprovalTracker(spec, "ops").approve("tywin") == "APPROVED"


@given(
    thresholds=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    logic=st.sampled_from(["AND", "OR"]),
    answers=st.lists(st.tuples(st.integers(0, 8), st.booleans()), max_size=12),
)
def test_outcome_follows_the_first_decisive_answer(
    thresholds: list[int], logic: str, answers: list[tuple[int, bool]]
) -> None:
    people = [f"p{i}" for i in range(9)]
    groups = tuple(ApprovalGroup(tuple(people[3 * g : 3 * g + 3]), th) for g, th in enumerate(thresholds))
    t = ApprovalTracker(ApprovalSpec(groups, logic), initiator="nobody")
    answered: dict[str, bool] = {}
    outcome = "PENDING"
    for who, yes in answers:
        name = people[who]
        answer = t.approve if yes else t.reject
        if name not in t.eligible or answered.get(name, yes) != yes:
            with pytest.raises(ValueError):
                answer(name)
            continue
        answered[name] = yes
        answer(name)
        if outcome == "PENDING":
            met = [sum(answered.get(m) is True for m in g.members) >= g.threshold for g in groups]
            if not yes:
                outcome = "REJECTED"
            elif all(met) if logic == "AND" else any(met):
                outcome = "APPROVED"
        assert t.outcome == outcome
