"""The node <-> SaaS protocol, version 2.

The conversation is HTTP-like: the node opens a stream and sends requests; each request gets exactly one
response. Work reaches the node as the answer to a long `Poll`, which the SaaS holds until work arrives or
the long-poll interval ends. Everything the node does in return (callback outcomes, MPC rounds,
configuration-change answers) is a further request, except what can ride on a request the node sends
anyway: a node re-polls as soon as a poll brings work, so the answers to the probes it brought travel in
that next `Poll`; and the SaaS answers an approving `CallbackResult`, which carries the node's
commitments, with round two's signing package. Version 2 is version 1 less two round trips per signature
(a separate probe answer per node, and commitments apart from the callback's outcome).

Pairing:   Pair -> PairPending;  PairStatus (held like a poll) -> PairPending | PairCompleted | Error
Access:    RefreshAccess -> TokenGrant
SGX keys:  AttestationQuote -> AttestationResult
Work:      Poll[Availability...] -> PollResult[AvailabilityProbe | SignRequest | SignAbort | ConfigChange
                                               | RequestStatus | commands]
Signing:   ProbeAnswer (a probe answered late, by a busy node) -> Ack | Error
           CallbackResult (APPROVE with commitments) -> SignRound2 | Error
           CallbackResult (REJECT, FAILED) -> Ack | Error
           SignatureShare -> Ack | Error
Admin:     ManagementRequest (add user, callback update, unpair, rename) -> RequestAccepted | Error
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cosigner_ha.wire.schema import Message, message

PROTOCOL_VERSION = 2


class Request(Message):
    """Sent by a node; answered by exactly one Response."""


class Response(Message):
    """Sent by the SaaS in answer to one Request."""


class WorkItem(Message):
    """Carried to a node inside a PollResult."""


# --- pairing and access -----------------------------------------------------------------------------------


@message
@dataclasses.dataclass(frozen=True, slots=True)
class Pair(Request):
    """Present a pairing token (a JWT from the console) to pair one API user with this co-signer."""

    TYPE = "pair"
    pairing_token: str
    cosigner_id: str
    cosigner_type: str  # SGX | AWS-NITRO | GCP-CONFSPACE | SANDBOX
    version: str
    config_key: bytes  # public key that signs this API user's configuration-change approvals
    transport_key: bytes  # X25519 public key of the enclave: key-share contributions are sealed to it


@message
@dataclasses.dataclass(frozen=True, slots=True)
class PairPending(Response):
    TYPE = "pair_pending"
    request_id: str
    status: str  # WAITING_FOR_APPROVAL | APPROVED


@message
@dataclasses.dataclass(frozen=True, slots=True)
class PairStatus(Request):
    """Wait for the owner's decision on a pairing request (held by the SaaS like a poll)."""

    TYPE = "pair_status"
    request_id: str
    cosigner_id: str
    pairing_token: str


@message
@dataclasses.dataclass(frozen=True, slots=True)
class PairCompleted(Response):
    """The approved pairing: the key material the node combines into its share, and its refresh token."""

    TYPE = "pair_completed"
    request_id: str
    workspace_id: str
    api_user: str
    refresh_token: str
    identifier: int  # the node's FROST participant identifier for this API user
    contributions: list[bytes]  # resharing contributions, each sealed to the node's transport key
    public_package: bytes  # the group's public key package after resharing


@message
@dataclasses.dataclass(frozen=True, slots=True)
class RefreshAccess(Request):
    TYPE = "refresh_access"
    cosigner_id: str
    refresh_token: str


@message
@dataclasses.dataclass(frozen=True, slots=True)
class TokenGrant(Response):
    TYPE = "token_grant"
    access_token: str
    expires_at: float  # POSIX seconds


@message
@dataclasses.dataclass(frozen=True, slots=True)
class AttestationQuote(Request):
    """An SGX enclave's report: measurement and host, signed by the (simulated) vendor key."""

    TYPE = "attestation_quote"
    cosigner_id: str
    report: bytes
    signature: bytes


@message
@dataclasses.dataclass(frozen=True, slots=True)
class AttestationResult(Response):
    """The database key, wrapped for the attested enclave."""

    TYPE = "attestation_result"
    wrapped_key: bytes


# --- the long poll ----------------------------------------------------------------------------------------


@message
@dataclasses.dataclass(frozen=True, slots=True)
class Poll(Request):
    TYPE = "poll"
    access_token: str
    cosigner_id: str
    api_users: list[str]
    #: The answers to the probes the previous poll brought (the SaaS takes them before it holds the poll).
    answers: list[Availability] = dataclasses.field(default_factory=list)


@message
@dataclasses.dataclass(frozen=True, slots=True)
class Availability(Message):
    """A node's answer to one `AvailabilityProbe`, carried by its next `Poll`."""

    TYPE = "availability"
    probe_id: str
    api_user: str
    available: bool


@message
@dataclasses.dataclass(frozen=True, slots=True)
class PollResult(Response):
    TYPE = "poll_result"
    items: list[WorkItem]


@message
@dataclasses.dataclass(frozen=True, slots=True)
class AvailabilityProbe(WorkItem):
    """Can you sign for this API user right now? Answer before `deadline` (POSIX seconds)."""

    TYPE = "probe"
    probe_id: str
    tx_id: str
    api_user: str
    deadline: float


@message
@dataclasses.dataclass(frozen=True, slots=True)
class SignRequest(WorkItem):
    """Sign `message` for `api_user`: ask the callback handler with `request`, then run FROST round one."""

    TYPE = "sign_request"
    session_id: str
    tx_id: str
    api_user: str
    request: dict[str, Any]  # the callback handler's request body (txId, operation, asset, amount, ...)
    message: bytes
    participants: list[int]
    deadline: float


@message
@dataclasses.dataclass(frozen=True, slots=True)
class SignRound2(Response):
    """Everyone's commitments for the session (the answer to an approving `CallbackResult`): the node
    answers with its signature share."""

    TYPE = "sign_round2"
    session_id: str
    signing_package: bytes


@message
@dataclasses.dataclass(frozen=True, slots=True)
class SignAbort(WorkItem):
    TYPE = "sign_abort"
    session_id: str
    reason: str


@message
@dataclasses.dataclass(frozen=True, slots=True)
class ConfigChange(WorkItem):
    """A configuration change (new whitelisted wallet, policy publish) for an ADMIN API user to approve."""

    TYPE = "config_change"
    request_id: str
    api_user: str
    kind: str
    payload: dict[str, Any]


@message
@dataclasses.dataclass(frozen=True, slots=True)
class RequestStatus(WorkItem):
    """A management request moved on (approved, rejected, completed)."""

    TYPE = "request_status"
    request_id: str
    status: str
    detail: str


# --- answers from the node --------------------------------------------------------------------------------


@message
@dataclasses.dataclass(frozen=True, slots=True)
class ProbeAnswer(Request):
    """A probe's answer sent on its own: a busy node answers late, while its next poll is already held."""

    TYPE = "probe_answer"
    access_token: str
    probe_id: str
    api_user: str
    available: bool


@message
@dataclasses.dataclass(frozen=True, slots=True)
class CallbackResult(Request):
    """What the callback handler decided: APPROVE, REJECT, or FAILED with `cause`, one of
    `CALLBACK_FAILURES` (empty for APPROVE and REJECT), so the SaaS can say why a transaction failed."""

    TYPE = "callback_result"
    access_token: str
    session_id: str
    action: str
    reason: str
    cause: str = ""
    #: With APPROVE: the node's round-one commitments (`mpc.SigningCommitments.to_bytes`), so that the
    #: SaaS can answer with round two at once. Empty otherwise.
    commitments: bytes = b""


#: Why a node's callback request failed (`CallbackResult.cause` with action FAILED): the callback client's
#: failure kinds (node/callback.py), plus CANNOT_SIGN when the node cannot sign for the API user at all.
CALLBACK_FAILURES = (
    "TIMEOUT",
    "HTTP_STATUS",
    "MALFORMED",
    "BAD_SIGNATURE",
    "WRONG_KEY",
    "PIN_MISMATCH",
    "UNREACHABLE",
    "NOT_ALLOWED",
    "RETRY_EXHAUSTED",
    "DEADLINE",
    "REQUEST_ID_MISMATCH",
    "HANDLER_ERROR",
    "CANNOT_SIGN",
)


@message
@dataclasses.dataclass(frozen=True, slots=True)
class SignatureShare(Request):
    TYPE = "signature_share"
    access_token: str
    session_id: str
    share: bytes


@message
@dataclasses.dataclass(frozen=True, slots=True)
class ConfigChangeAnswer(Request):
    TYPE = "config_change_answer"
    access_token: str
    request_id: str
    api_user: str
    approved: bool
    signature: bytes
    reason: str


@message
@dataclasses.dataclass(frozen=True, slots=True)
class ManagementRequest(Request):
    """ADD_USER, CALLBACK_UPDATE, UNPAIR, RENAME: each waits for an approver in the workspace."""

    TYPE = "management_request"
    access_token: str
    kind: str
    api_user: str
    payload: dict[str, Any]


@message
@dataclasses.dataclass(frozen=True, slots=True)
class RequestAccepted(Response):
    TYPE = "request_accepted"
    request_id: str
    status: str


@message
@dataclasses.dataclass(frozen=True, slots=True)
class Ack(Response):
    TYPE = "ack"


@message
@dataclasses.dataclass(frozen=True, slots=True)
class Error(Response):
    """A refused request. `code` is stable (BAD_TOKEN, TOKEN_EXPIRED, UNKNOWN_SESSION, ...)."""

    TYPE = "error"
    code: str
    message: str


# --- additions (saas issue) -------------------------------------------------------------------------------


@message
@dataclasses.dataclass(frozen=True, slots=True)
class EnclaveReport(Message):
    """What an SGX enclave's (simulated) hardware reports, encoded as the `report` of an AttestationQuote.

    The vendor key signs `encode(EnclaveReport(...))`; the SaaS's attestation service checks that signature
    and the measurement, then wraps the database key to `enclave_key` (an X25519 public key).
    """

    TYPE = "enclave_report"
    measurement: bytes  # hash of the enclave image
    host_id: str  # the CPU/host the enclave runs on
    enclave_key: bytes  # X25519 public key generated inside the enclave


@message
@dataclasses.dataclass(frozen=True, slots=True)
class ShareContribution(Message):
    """The plaintext of one entry of `PairCompleted.contributions`, before it is sealed to the node.

    Old holder `sender` of the workspace key deals its piece to new holder `receiver` (the node, 1):
    `commitment` is the sender's Feldman commitment (`mpc.DealerCommitment.commitment`), `share` the
    dealt value (`mpc.DealtShare.value`, 32-byte little-endian scalar), `old_public_package` the workspace
    key's `PublicKeyPackage.to_bytes()` that `mpc.reshare_combine` checks every piece against, and
    `new_threshold` the threshold of the new share set. Sealed with a PyNaCl `Box`:
    `ephemeral_public (32) || nonce (24) || ciphertext` (see docs/saas.md).
    """

    TYPE = "share_contribution"
    sender: int
    receiver: int
    new_identifiers: list[int]
    new_threshold: int
    commitment: list[bytes]
    share: bytes
    old_public_package: bytes


@message
@dataclasses.dataclass(frozen=True, slots=True)
class ConfigChangeApproval(Message):
    """What an ADMIN API user's co-signer signs to answer a `ConfigChange`.

    `ConfigChangeAnswer.signature` is the Ed25519 signature, under the `config_key` given in `Pair`, of
    `encode(ConfigChangeApproval(request_id, api_user, kind, payload, approved))` with the fields copied
    from the `ConfigChange` work item as received.
    """

    TYPE = "config_change_approval"
    request_id: str
    api_user: str
    kind: str
    payload: dict[str, Any]
    approved: bool


# --- additions (node issue) -------------------------------------------------------------------------------


@message
@dataclasses.dataclass(frozen=True, slots=True)
class AddUserCommand(WorkItem):
    """Pair another API user, commanded from the console or API (the only way for a GCP co-signer).

    The node runs the usual `Pair` exchange with `pairing_token`. `callback` is a CallbackHandlerRequest:
    `{"url": str, "publicKey": PEM str, "cert": PEM str}` (all optional; no url: no handler).
    """

    TYPE = "add_user_command"
    request_id: str
    pairing_token: str
    callback: dict[str, Any]


@message
@dataclasses.dataclass(frozen=True, slots=True)
class CallbackUpdateCommand(WorkItem):
    """Change an API user's callback handler (approved in the console); `callback` as in AddUserCommand."""

    TYPE = "callback_update_command"
    request_id: str
    api_user: str
    callback: dict[str, Any]


@message
@dataclasses.dataclass(frozen=True, slots=True)
class UnpairCommand(WorkItem):
    """Unpair an API user (approved by an admin): the node erases that user's share and keys."""

    TYPE = "unpair_command"
    request_id: str
    api_user: str


@message
@dataclasses.dataclass(frozen=True, slots=True)
class CommandResult(Request):
    """The node's report on an AddUserCommand, CallbackUpdateCommand or UnpairCommand. Answered by Ack."""

    TYPE = "command_result"
    access_token: str
    request_id: str
    ok: bool
    detail: str
