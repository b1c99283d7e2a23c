"""Names behind a rule's references: groups expanded to members, in the order the rule lists them."""

from __future__ import annotations

from collections.abc import Iterable

from .decision import ApprovalGroup, ApprovalSpec
from .directory import Directory
from .model import Approvers


def expand(directory: Directory, users: Iterable[str], groups: Iterable[str]) -> tuple[str, ...]:
    """Users, then each group's members, without repeats. A group the directory does not know (only
    possible with a permissive directory) stands for itself."""
    names: dict[str, None] = dict.fromkeys(users)
    for group in groups:
        members = directory.members(group)
        names.update(dict.fromkeys((group,) if members is None else members))
    return tuple(names)


def approval_spec(directory: Directory, approvers: Approvers) -> ApprovalSpec:
    return ApprovalSpec(
        groups=tuple(
            ApprovalGroup(expand(directory, g.users, g.groups), g.threshold) for g in approvers.groups
        ),
        logic=approvers.logic,
        allow_operator_as_authorizer=approvers.allow_operator_as_authorizer,
    )
