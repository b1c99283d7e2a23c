"""Management requests (add co-signer, pair API key, update callback handler, unpair, rename).

Each has an id and a status that moves only along the arrows of `TRANSITIONS`, as the Co-signers API's
`Status` object reports it. Waiters (a node holding `PairStatus`) wake on every change.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import anyio

from cosigner_ha.saas_sim.errors import IllegalTransition, NotFound


class RequestKind(enum.StrEnum):
    ADD_COSIGNER = "ADD_COSIGNER"
    PAIR_API_KEY = "PAIR_API_KEY"
    UPDATE_CALLBACK_HANDLER = "UPDATE_CALLBACK_HANDLER"
    UNPAIR_API_KEY = "UNPAIR_API_KEY"
    RENAME_COSIGNER = "RENAME_COSIGNER"


class RequestState(enum.StrEnum):
    WAITING_FOR_APPROVAL = "WAITING_FOR_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


TRANSITIONS: dict[RequestState, tuple[RequestState, ...]] = {
    RequestState.WAITING_FOR_APPROVAL: (RequestState.APPROVED, RequestState.REJECTED, RequestState.CANCELLED),
    RequestState.APPROVED: (RequestState.COMPLETED, RequestState.CANCELLED),
    RequestState.REJECTED: (),
    RequestState.CANCELLED: (),
    RequestState.COMPLETED: (),
}
FINAL = (RequestState.REJECTED, RequestState.CANCELLED, RequestState.COMPLETED)


@dataclasses.dataclass(slots=True)
class ManagementRequest:
    id: str
    kind: RequestKind
    workspace_id: str
    cosigner_id: str | None
    api_user: str | None
    requested_by: str
    created_at: float
    status: RequestState = RequestState.WAITING_FOR_APPROVAL
    detail: str = ""
    payload: dict[str, Any] = dataclasses.field(default_factory=dict)
    history: list[tuple[float, RequestState, str]] = dataclasses.field(default_factory=list)
    _waiters: list[anyio.Event] = dataclasses.field(default_factory=list, repr=False)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def as_status(self) -> dict[str, Any]:
        """The Co-signers API `Status` shape."""
        return {"id": self.id, "type": self.kind.value, "status": self.status.value, "detail": self.detail}


class ManagementRequests:
    """All management requests of the SaaS, by id, in creation order."""

    def __init__(self, *, now: Callable[[], float], new_id: Callable[[], str], record: Callable[..., Any]):
        self._now = now
        self._new_id = new_id
        self._record = record
        self._requests: dict[str, ManagementRequest] = {}

    def create(
        self,
        kind: RequestKind,
        *,
        workspace_id: str,
        requested_by: str,
        cosigner_id: str | None = None,
        api_user: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> ManagementRequest:
        req = ManagementRequest(
            id=self._new_id(),
            kind=kind,
            workspace_id=workspace_id,
            cosigner_id=cosigner_id,
            api_user=api_user,
            requested_by=requested_by,
            created_at=self._now(),
            payload=dict(payload or {}),
        )
        req.history.append((req.created_at, req.status, "created"))
        self._requests[req.id] = req
        self._record(
            "management_request",
            request=req.id,
            type=kind.value,
            status=req.status.value,
            workspace=workspace_id,
            cosigner=cosigner_id,
            api_user=api_user,
            by=requested_by,
        )
        return req

    def restore(self, req: ManagementRequest) -> None:
        """A request as a restarted SaaS saved it."""
        self._requests[req.id] = req

    def get(self, request_id: str) -> ManagementRequest:
        try:
            return self._requests[request_id]
        except KeyError:
            raise NotFound(f"no management request {request_id!r}") from None

    def all(self) -> list[ManagementRequest]:
        return list(self._requests.values())

    def move(self, req: ManagementRequest, status: RequestState, detail: str = "") -> None:
        if status not in TRANSITIONS[req.status]:
            allowed = ", ".join(s.value for s in TRANSITIONS[req.status]) or "nothing (it is final)"
            raise IllegalTransition(
                f"management request {req.id} ({req.kind.value}) is {req.status.value}; "
                f"it can move to {allowed}, not {status.value}"
            )
        req.status = status
        req.detail = detail
        req.history.append((self._now(), status, detail))
        self._record(
            "request_status",
            request=req.id,
            type=req.kind.value,
            status=status.value,
            detail=detail,
            cosigner=req.cosigner_id,
            api_user=req.api_user,
        )
        waiters, req._waiters = req._waiters, []
        for event in waiters:
            event.set()

    async def wait_final(self, req: ManagementRequest) -> RequestState:
        while not req.final:
            event = anyio.Event()
            req._waiters.append(event)
            await event.wait()
        return req.status

    async def wait_change(self, req: ManagementRequest, timeout: float) -> bool:
        """Wait until the request changes or `timeout` passes; True if it changed."""
        if req.final:
            return False
        event = anyio.Event()
        req._waiters.append(event)
        with anyio.move_on_after(timeout):
            await event.wait()
            return True
        return False
