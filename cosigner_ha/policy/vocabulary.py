"""The words every part uses for a workspace's people and kind, defined once (DESIGN.md section 2's table).

`policy` imports nothing of ours, so `saas_sim`, `cluster`, `testing` and the CLI all import these from here:
the roles, which of them sign, initiate, approve and administer, the workspace kinds, and the API user
name limit.
"""

from __future__ import annotations

import enum

#: Fireblocks limits API user names to 30 characters (console "Add API user" dialog); not configurable.
API_USER_NAME_MAX = 30


class Role(enum.StrEnum):
    """A console user's role (an API user has the same ones but OWNER)."""

    OWNER = "OWNER"
    ADMIN = "ADMIN"
    NON_SIGNING_ADMIN = "NON_SIGNING_ADMIN"
    SIGNER = "SIGNER"
    APPROVER = "APPROVER"
    EDITOR = "EDITOR"
    VIEWER = "VIEWER"


class ApiUserRole(enum.StrEnum):
    """An API user's role: a `Role` but OWNER (equal to the `Role` of the same name, being the same string)."""

    ADMIN = Role.ADMIN.value
    NON_SIGNING_ADMIN = Role.NON_SIGNING_ADMIN.value
    SIGNER = Role.SIGNER.value
    APPROVER = Role.APPROVER.value
    EDITOR = Role.EDITOR.value
    VIEWER = Role.VIEWER.value


#: Roles a Fireblocks policy file may name that the simulated workspace does not model.
POLICY_ONLY_ROLES = ("AUDITOR",)

#: API user roles whose users hold MPC key shares and can co-sign (DESIGN.md section 2; not configurable).
SIGNING_ROLES: tuple[str, ...] = (Role.SIGNER, Role.ADMIN)
#: Console user roles that can sign a transaction from a device.
CONSOLE_SIGNING_ROLES = (Role.OWNER, Role.ADMIN, Role.SIGNER)
#: Roles that may initiate a transaction (tap-policy.md section 2.7).
INITIATING_ROLES = (Role.OWNER, Role.ADMIN, Role.NON_SIGNING_ADMIN, Role.SIGNER, Role.EDITOR)
#: Roles whose console users may approve 2-TIER transactions.
APPROVING_ROLES = (Role.OWNER, Role.ADMIN, Role.NON_SIGNING_ADMIN, Role.SIGNER, Role.APPROVER)
#: Roles that may ask for and approve co-signer management (unpairing needs an admin).
ADMIN_ROLES = (Role.OWNER, Role.ADMIN, Role.NON_SIGNING_ADMIN)
#: The admin roles other than the owner's: what an API user needs for the Co-signers API and policy
#: publishing, and which console admins approve with the admin's latency rather than the owner's.
DELEGATE_ADMIN_ROLES = (Role.ADMIN, Role.NON_SIGNING_ADMIN)


class WorkspaceEnv(enum.StrEnum):
    """A workspace's kind; the communal (sandbox) co-signer serves only testnet and sandbox ones."""

    MAINNET = "mainnet"
    TESTNET = "testnet"
    SANDBOX = "sandbox"


__all__ = [
    "ADMIN_ROLES",
    "API_USER_NAME_MAX",
    "APPROVING_ROLES",
    "CONSOLE_SIGNING_ROLES",
    "DELEGATE_ADMIN_ROLES",
    "INITIATING_ROLES",
    "POLICY_ONLY_ROLES",
    "SIGNING_ROLES",
    "ApiUserRole",
    "Role",
    "WorkspaceEnv",
]
