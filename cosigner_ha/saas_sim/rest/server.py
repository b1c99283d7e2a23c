"""The Starlette app of the local Fireblocks API: every endpoint module's routes behind `RestApi.endpoint`.

Apart from `app`, because the endpoint modules import `app` (for `Call` and `RestApi`) and this module imports
them: the routes are assembled one level above both.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cosigner_ha.saas_sim.rest import cosigners, errors, policy, transactions, vaults
from cosigner_ha.saas_sim.rest.app import PREFIX, RestApi


def routes(api: RestApi) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for module in (transactions, vaults, policy, cosigners):
        for method, path, handler, roles, what in module.ROUTES:
            out.append(Route(PREFIX + path, api.endpoint(handler, roles=roles, what=what), methods=[method]))
    return out


def build_app(api: RestApi) -> Starlette:
    """The ASGI app serving `api`; unknown paths and methods get Fireblocks' error body, never HTML."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):  # no such path, or not with this method
            message = f"{request.method} {request.url.path} is not served by the local Fireblocks API"
            return errors.error_response(404, errors.NO_SUCH_ENDPOINT, message)
        return errors.error_response(exc.status_code, errors.INVALID_REQUEST, str(exc.detail))

    return Starlette(routes=routes(api), exception_handlers={HTTPException: http_error})
