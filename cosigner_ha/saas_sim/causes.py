"""Why a transaction ended as it did: one precise cause beside Fireblocks' sub-status.

Fireblocks' sub-status is coarse and, for a callback handler's failures, undocumented
(cosigner-protocol.md section 7, question 3): a handler that timed out, one whose JWT signature did not
verify and one that answered garbage would all read FAILED / TIMEOUT. Every terminal event therefore
carries a `cause` from `Cause` as well, and the reports count by it.

The sub-status each callback failure gets is the simulator's choice (Fireblocks publishes none), from
the signing-relevant sub-statuses of Fireblocks' list: time-outs TIMEOUT (the configured
`callback_failure_sub_status`), a handler that cannot be reached or answers an HTTP error
CONNECTIVITY_ERROR, an answer whose signature or certificate does not check INVALID_SIGNATURE, an answer
that is not a valid decision UNKNOWN_ERROR, a node that cannot sign for the user SIGNER_NOT_FOUND.
"""

from __future__ import annotations

import enum

from cosigner_ha.saas_sim.config import SaasConfig


class Cause(enum.StrEnum):
    """The precise reason a transaction ended other than COMPLETED (the `cause` of its terminal event)."""

    POLICY_BLOCK = "policy-block"  # a BLOCK rule matched, or none did (the catch-all); `rule` says which
    POLICY_ERROR = "policy-error"  # the policy could not be evaluated
    SIGNER_NOT_FOUND = "signer-not-found"  # no single API user may sign (exchange/fiat rule), or none can
    AUTHORIZER_NOT_FOUND = "authorizer-not-found"
    APPROVER_REJECT = "approver-reject"
    AUTHORIZATION_TIMEOUT = "authorization-timeout"
    INSUFFICIENT_FUNDS = "insufficient-funds"
    CALLBACK_REJECT = "callback-reject"
    CALLBACK_TIMEOUT = "callback-timeout"
    CALLBACK_RETRIES_EXHAUSTED = "callback-retries-exhausted"
    CALLBACK_HTTP_ERROR = "callback-http-error"
    CALLBACK_UNREACHABLE = "callback-unreachable"
    CALLBACK_BAD_SIGNATURE = "callback-bad-signature"
    CALLBACK_WRONG_KEY = "callback-wrong-key"
    CALLBACK_PIN_MISMATCH = "callback-pin-mismatch"
    CALLBACK_MALFORMED = "callback-malformed"
    CALLBACK_NOT_ALLOWED = "callback-not-allowed"  # IGNORE on a signing request
    CALLBACK_HANDLER_ERROR = "callback-handler-error"
    CALLBACK_FAILED = "callback-failed"  # a failure kind this SaaS does not know
    COSIGNER_CANNOT_SIGN = "cosigner-cannot-sign"
    COSIGNER_LOST = "cosigner-lost"  # dispatched, then the node stopped answering or disconnected
    NO_COSIGNER_AVAILABLE = "no-cosigner-available"  # no co-signer was online and available to dispatch to
    SIGNING_ERROR = "signing-error"
    CANCELLED_BY_USER = "cancelled-by-user"


#: The node's callback failure kind (`wire.CALLBACK_FAILURES`) -> cause.
CALLBACK_CAUSES: dict[str, Cause] = {
    "TIMEOUT": Cause.CALLBACK_TIMEOUT,
    "RETRY_EXHAUSTED": Cause.CALLBACK_RETRIES_EXHAUSTED,
    "DEADLINE": Cause.CALLBACK_RETRIES_EXHAUSTED,
    "HTTP_STATUS": Cause.CALLBACK_HTTP_ERROR,
    "UNREACHABLE": Cause.CALLBACK_UNREACHABLE,
    "BAD_SIGNATURE": Cause.CALLBACK_BAD_SIGNATURE,
    "WRONG_KEY": Cause.CALLBACK_WRONG_KEY,
    "PIN_MISMATCH": Cause.CALLBACK_PIN_MISMATCH,
    "MALFORMED": Cause.CALLBACK_MALFORMED,
    "REQUEST_ID_MISMATCH": Cause.CALLBACK_MALFORMED,
    "NOT_ALLOWED": Cause.CALLBACK_NOT_ALLOWED,
    "HANDLER_ERROR": Cause.CALLBACK_HANDLER_ERROR,
    "CANNOT_SIGN": Cause.COSIGNER_CANNOT_SIGN,
}


def callback_cause(kind: str) -> Cause:
    """The cause for a node's reported callback failure; an unknown kind is a generic callback failure."""
    return CALLBACK_CAUSES.get(kind, Cause.CALLBACK_FAILED)


def callback_failure_sub_status(cause: Cause, config: SaasConfig) -> str:
    """The Fireblocks sub-status a transaction that failed for a callback `cause` ends with."""
    if cause in (Cause.CALLBACK_TIMEOUT, Cause.CALLBACK_RETRIES_EXHAUSTED):
        return config.callback_failure_sub_status
    if cause in (Cause.CALLBACK_HTTP_ERROR, Cause.CALLBACK_UNREACHABLE):
        return "CONNECTIVITY_ERROR"
    if cause in (Cause.CALLBACK_BAD_SIGNATURE, Cause.CALLBACK_WRONG_KEY, Cause.CALLBACK_PIN_MISMATCH):
        return "INVALID_SIGNATURE"
    if cause is Cause.COSIGNER_CANNOT_SIGN:
        return "SIGNER_NOT_FOUND"
    return "UNKNOWN_ERROR"
