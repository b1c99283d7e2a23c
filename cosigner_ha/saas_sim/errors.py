"""The SaaS's refusals. Each carries a stable `code`, the one a wire `Error` carries to the node.

A refusal says what was wrong and where (the field, the user, the token's claim) and what was expected, so
an operator reading a trace or a node log can act on it without reading this code.
"""

from __future__ import annotations


class SaasError(Exception):
    """Base of every refusal; `code` is stable and machine-readable."""

    code = "SAAS_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(SaasError):
    """A workspace, user, account or transaction description that breaks a rule; names the key path."""

    code = "INVALID"

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class NotFound(SaasError):
    code = "NOT_FOUND"


class Conflict(SaasError):
    """The request is well formed but clashes with the current state (a duplicate, a wrong status)."""

    code = "CONFLICT"


class Forbidden(SaasError):
    """The actor's role does not allow the action."""

    code = "FORBIDDEN"


# --- tokens ------------------------------------------------------------------------------------------------


class TokenError(SaasError):
    """A refused token. The gateway answers with this code and closes the connection."""

    code = "BAD_TOKEN"


class TokenMalformed(TokenError):
    """Not a compact JWT, or missing claims."""

    code = "TOKEN_MALFORMED"


class TokenForged(TokenError):
    """The signature does not verify under the SaaS's key, or the header names another algorithm."""

    code = "TOKEN_FORGED"


class TokenExpired(TokenError):
    code = "TOKEN_EXPIRED"


class TokenReplayed(TokenError):
    """A single-use pairing token presented a second time."""

    code = "TOKEN_REPLAYED"


class TokenForeign(TokenError):
    """A genuine token used where it does not belong: another workspace, API user, co-signer or purpose."""

    code = "TOKEN_FOREIGN"


class TokenRevoked(TokenError):
    """A refresh or access token whose pairing was undone (unpaired, re-enrolled)."""

    code = "TOKEN_REVOKED"


# --- co-signers and pairing --------------------------------------------------------------------------------


class PairingRefused(SaasError):
    code = "PAIRING_REFUSED"


class SingleWorkspaceOnly(PairingRefused):
    """A GCP Confidential Space co-signer already serves another workspace."""

    code = "GCP_SINGLE_WORKSPACE"


class CommunalOnTestnetOnly(PairingRefused):
    """The communal (SANDBOX) co-signer pairs only with testnet and sandbox workspaces."""

    code = "COMMUNAL_NOT_ALLOWED"


class AttestationFailed(SaasError):
    code = "ATTESTATION_FAILED"


# --- transactions and MPC sessions -------------------------------------------------------------------------


class IllegalTransition(SaasError):
    """A transaction asked to move between statuses the lifecycle does not connect."""

    code = "ILLEGAL_TRANSITION"


class SessionClosed(SaasError):
    """A message for a signing session that was aborted, finished, or belongs to another co-signer."""

    code = "SESSION_CLOSED"


class UnknownSession(SaasError):
    code = "UNKNOWN_SESSION"
