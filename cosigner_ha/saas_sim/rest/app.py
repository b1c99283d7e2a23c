"""The REST API over one workspace of a running `Saas`: authentication, routing, error bodies, and the
`Idempotency-Key` cache. Endpoint modules (transactions, vaults, policy, cosigners) hold the handlers.

The app is an ordinary Starlette (ASGI) app; it runs in the SaaS's event loop, so handlers call the SaaS
directly. Serve it with hypercorn, or drive it in process through httpx's ASGI transport.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cosigner_ha.policy.vocabulary import Role
from cosigner_ha.saas_sim.errors import SaasError
from cosigner_ha.saas_sim.rest import errors
from cosigner_ha.saas_sim.rest.auth import ApiCredential, Authenticator
from cosigner_ha.saas_sim.rest.balances import Balances
from cosigner_ha.saas_sim.rest.errors import ApiError
from cosigner_ha.saas_sim.saas import Saas
from cosigner_ha.saas_sim.workspace import ApiUser, Workspace

PREFIX = "/v1"
#: Fireblocks keeps an idempotency key 24 hours.
IDEMPOTENCY_TTL = 24 * 3600.0


@dataclasses.dataclass
class Call:
    """One authenticated request as a handler sees it."""

    api: RestApi
    request: Request
    user: ApiCredential
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return dict(self.request.path_params)

    @property
    def query(self) -> Any:
        return self.request.query_params

    def json(self) -> dict[str, Any]:
        return errors.json_object(self.body)

    @property
    def api_user(self) -> ApiUser:
        return self.api.workspace.api_user(self.user.api_user)


Handler = Callable[[Call], Awaitable[Response]]


@dataclasses.dataclass
class _Remembered:
    expires: float
    status: int
    body: bytes
    headers: dict[str, str]


class RestApi:
    """The local Fireblocks API for workspace `workspace` of `saas`, for the API users in `credentials`."""

    def __init__(
        self,
        saas: Saas,
        workspace: str,
        credentials: Iterable[ApiCredential],
        *,
        balances: Balances | None = None,
    ) -> None:
        self.saas = saas
        self.workspace_name = workspace
        self.credentials = list(credentials)
        self.auth = Authenticator(self.credentials, saas.env.clock.wall)
        self.balances = balances
        #: Who published the active policy through the API, and when (POSIX seconds); None: the scenario.
        self.published: tuple[str, float] | None = None
        self._remembered: dict[tuple[str, str, str], _Remembered] = {}
        ws = self.workspace
        for cred in self.credentials:
            ws.api_user(cred.api_user)  # a credential for an API user the workspace lacks is a set-up error

    @property
    def workspace(self) -> Workspace:
        return self.saas.workspace(self.workspace_name)

    # --- ids as the API shows them --------------------------------------------------------------------------

    def user_id(self, name_or_id: str | None) -> str | None:
        """An API user's id as clients know it: its API key when it has REST credentials, else its SaaS id;
        a console user's name as it is."""
        if name_or_id is None:
            return None
        ws = self.workspace
        user = ws.api_users.get(name_or_id)
        if user is None:
            user = next((u for u in ws.api_users.values() if u.id == name_or_id), None)
        if user is None:
            return name_or_id
        for cred in self.credentials:
            if cred.api_user == user.name:
                return cred.api_key
        return user.id

    def find_api_user(self, ref: str) -> ApiUser:
        """An API user by API key, SaaS id or name (paths carry the API key)."""
        ws = self.workspace
        for cred in self.credentials:
            if cred.api_key == ref:
                return ws.api_user(cred.api_user)
        for user in ws.api_users.values():
            if ref in (user.id, user.name):
                return user
        raise errors.not_found(f"no API key {ref!r} in workspace {ws.name!r}")

    def wall(self, t: float) -> float:
        """POSIX seconds of a SaaS time (`clock.now()` seconds)."""
        clock = self.saas.env.clock
        return clock.wall() - (clock.now() - t)

    # --- the app --------------------------------------------------------------------------------------------

    def endpoint(self, handler: Handler, *, roles: Sequence[Role] | None = None, what: str = "") -> Any:
        """Wrap a handler: authenticate, check the role, honour `Idempotency-Key`, map errors to bodies."""

        async def run(request: Request) -> Response:
            management = request.url.path.startswith(PREFIX + "/management/")
            body = await request.body()
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            uri = raw_path.decode("latin-1")
            if request.scope.get("query_string"):
                uri += "?" + request.scope["query_string"].decode("latin-1")
            try:
                user = self.auth.authenticate(uri, request.headers, body)
                role = self.workspace.api_user(user.api_user).role
                if roles is not None and role not in roles:
                    allowed = ", ".join(r.value for r in roles)
                    raise ApiError(
                        403,
                        errors.INSUFFICIENT_PERMISSIONS,
                        f"Insufficient permissions: API user {user.api_user!r} has role {role.value}; "
                        f"{what or 'this call'} needs {allowed}",
                    )
                key = request.headers.get("idempotency-key")
                slot = (user.api_key, request.method + " " + request.url.path, key) if key else None
                if slot is not None:
                    kept = self._remembered.get(slot)
                    if kept is not None and kept.expires > self.saas.env.clock.now():
                        return Response(kept.body, kept.status, kept.headers, media_type="application/json")
                response = await handler(Call(self, request, user, body))
                if slot is not None and response.status_code < 500:
                    headers = {k: v for k, v in response.headers.items() if k.lower() == "location"}
                    self._remembered[slot] = _Remembered(
                        self.saas.env.clock.now() + IDEMPOTENCY_TTL,
                        response.status_code,
                        bytes(response.body),
                        headers,
                    )
                return response
            except ApiError as exc:
                return exc.response(management=management)
            except SaasError as exc:
                return errors.from_saas(exc).response(management=management)
            except Exception as exc:  # a bug: the client gets a 500 body, never a traceback
                self.saas.env.trace.record(
                    "internal_error", where=f"rest {request.method} {uri}", error=repr(exc)
                )
                message = f"internal error: {type(exc).__name__}"
                return errors.error_response(500, errors.INTERNAL, message, management=management)

        return run


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)
