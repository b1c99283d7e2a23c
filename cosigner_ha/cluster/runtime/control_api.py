"""The control API of `cosigner-ha saas serve`: plain JSON over HTTP on loopback, for the launcher.

It is not the Fireblocks REST API (that is `saas_sim.rest`, authenticated with API keys): it drives the
simulator's operations directly, as the in-process runner does, so a runtime drill can do over the network
what a simulated one does by calling `Saas`. Every refusal is a JSON body `{"error": code, "message": ...}`
with 400 (bad input), 404 (unknown id) or 409 (state clash), never a traceback.

    POST /workspace                        {"scenario": PATH}            set up the scenario's workspaces
    GET  /workspaces/{ws}                                                -> {"public_key": hex}
    POST /workspaces/{ws}/pairing-tokens   {"api_user": NAME, "age"?: s} -> {"token": ...}
    POST /workspaces/{ws}/transactions     {"initiator", "asset", ...}   -> transaction summary
    GET  /transactions/{id}                                              -> transaction summary
    GET  /transactions                                                   -> every summary
    PUT  /workspaces/{ws}/policy           {"rules": [...]}              publish a policy
    POST /workspaces/{ws}/pair             {"cosigner", "api_user", "requested_by", "callback"?}
    POST /workspaces/{ws}/unpair           {"api_user", "requested_by"}
    GET  /requests/{id}                                                  a pair/unpair request's status
    GET  /cosigners                                                      the co-signers and their state
    POST /cosigners/{id}/standby           {"standby": bool}             passive (chosen last) or not
    GET  /health
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosigner_ha.cluster.scenario import ScenarioError, load_scenario
from cosigner_ha.cluster.world import (
    WorldError,
    approver_latencies,
    policy_source,
    workspace_spec,
)
from cosigner_ha.policy import PolicyError
from cosigner_ha.saas_sim import ApproverBehaviour, Saas
from cosigner_ha.saas_sim.errors import Conflict, NotFound, SaasError
from cosigner_ha.saas_sim.transactions import Transaction

Handler = Callable[[Request], Awaitable[Response]]
#: The transaction fields a submission may carry (the keyword arguments of `Saas.submit`).
SUBMIT_FIELDS = (
    "initiator",
    "operation",
    "asset",
    "amount",
    "source",
    "destination",
    "destination_address",
    "external_id",
    "note",
    "extra_parameters",
)


class BadRequest(ValueError):
    """A control request that is malformed: names the field and what was expected."""


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _guarded(handler: Handler) -> Handler:
    """Refusals become JSON errors; the SaaS's own codes are kept."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as exc:
            return _error(400, "BAD_REQUEST", str(exc))
        except NotFound as exc:
            return _error(404, exc.code, exc.message)
        except Conflict as exc:
            return _error(409, exc.code, exc.message)
        except SaasError as exc:
            return _error(400, exc.code, exc.message)
        except (ScenarioError, WorldError, PolicyError) as exc:
            return _error(400, "INVALID", str(exc))

    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise BadRequest(f"body: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    return body


def _text(body: dict[str, Any], field: str, *, required: bool = True) -> str:
    value = body.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"body.{field}: expected a non-empty string, got {value!r}")
    return value


def transaction_view(tx: Transaction) -> dict[str, Any]:
    """The summary plus what a verifier needs: the signed message and the signature, in hex."""
    return {
        **tx.summary(),
        "signedApiUser": tx.signed_api_user,
        "message": tx.message.hex(),
        "signature": tx.signature.hex() if tx.signature is not None else None,
        "terminal": tx.terminal,
    }


class ControlApi:
    """The routes over one `Saas`; console users answer approvals `time_scale` times faster."""

    def __init__(self, saas: Saas, *, time_scale: float = 1.0) -> None:
        self.saas = saas
        self.time_scale = time_scale

    async def setup_from_scenario(self, path: Path) -> list[str]:
        """Every workspace of the scenario (one, or each of its `[[workspaces]]`), as the simulator sets them
        up (`build_world`): users, API users, accounts, approvers and policy; their names."""
        scenario = load_scenario(path)
        names = []
        for tenant in scenario.tenants():
            workspace = tenant.workspace.name
            await self.saas.setup_workspace(workspace_spec(scenario, tenant))
            for name, latency in approver_latencies(scenario, tenant).items():
                behaviour = ApproverBehaviour(latency=latency / self.time_scale)
                self.saas.set_approver(workspace, name, behaviour)
            where = f"[[workspaces]] {workspace} [policy]" if scenario.workspaces else "[policy]"
            source, origin = policy_source(scenario, tenant.policy, where=where, tenant=tenant)
            self.saas.publish_policy(workspace, source, origin=origin)
            names.append(workspace)
        return names

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "gateway": self.saas.address})

    async def workspace(self, request: Request) -> Response:
        body = await _body(request)
        path = Path(_text(body, "scenario"))
        if not path.is_file():
            raise BadRequest(f"body.scenario: {path}: no such scenario file")
        names = await self.setup_from_scenario(path)
        keys = [self.saas.workspace(name).public_key for name in names]
        views = [
            {"workspace": n, "public_key": k.hex() if k else None} for n, k in zip(names, keys, strict=True)
        ]
        return JSONResponse({**views[0], "workspaces": views}, status_code=201)

    async def workspace_state(self, request: Request) -> Response:
        ws = self.saas.workspace(request.path_params["ws"])
        key = ws.public_key
        return JSONResponse({"workspace": ws.name, "public_key": key.hex() if key else None})

    async def pairing_token(self, request: Request) -> Response:
        """A pairing token; with `age` (wall seconds, not scaled, as token lifetimes are not), one that has
        only what a token issued `age` seconds ago has left of its validity (a drill's `token_age`)."""
        body = await _body(request)
        ws = request.path_params["ws"]
        age = body.get("age", 0.0)
        if isinstance(age, bool) or not isinstance(age, int | float) or not math.isfinite(age) or age < 0:
            raise BadRequest(f"body.age: expected seconds, a number at least 0, got {age!r}")
        ttl = self.saas.config.pairing_token_ttl - age if age else None
        token = self.saas.issue_pairing_token(ws, _text(body, "api_user"), ttl=ttl)
        return JSONResponse({"token": token}, status_code=201)

    async def submit(self, request: Request) -> Response:
        body = await _body(request)
        unknown = sorted(set(body) - set(SUBMIT_FIELDS))
        if unknown:
            raise BadRequest(f"body.{unknown[0]}: unknown field; expected some of {', '.join(SUBMIT_FIELDS)}")
        fields = {k: v for k, v in body.items() if v is not None}
        tx = self.saas.submit(request.path_params["ws"], **fields)
        return JSONResponse(transaction_view(tx), status_code=201)

    async def transaction(self, request: Request) -> Response:
        return JSONResponse(transaction_view(self.saas.transaction(request.path_params["id"])))

    async def transactions(self, request: Request) -> Response:
        return JSONResponse([transaction_view(tx) for tx in self.saas.transactions])

    async def policy(self, request: Request) -> Response:
        body = await _body(request)
        self.saas.publish_policy(request.path_params["ws"], body, origin="control API")
        return JSONResponse({"published": True})

    async def pair(self, request: Request) -> Response:
        body = await _body(request)
        callback = body.get("callback")
        if callback is not None and not isinstance(callback, dict):
            raise BadRequest(f"body.callback: expected an object with url/publicKey/cert, got {callback!r}")
        req = self.saas.pair_api_key(
            request.path_params["ws"],
            _text(body, "cosigner"),
            _text(body, "api_user"),
            callback=callback,
            requested_by=_text(body, "requested_by"),
        )
        return JSONResponse({"request": req.id}, status_code=202)

    async def unpair(self, request: Request) -> Response:
        body = await _body(request)
        req = self.saas.unpair(
            request.path_params["ws"], _text(body, "api_user"), requested_by=_text(body, "requested_by")
        )
        return JSONResponse({"request": req.id}, status_code=202)

    async def request_status(self, request: Request) -> Response:
        return JSONResponse(self.saas.request_status(request.path_params["id"]))

    async def cosigners(self, request: Request) -> Response:
        return JSONResponse(self.saas.cosigners())

    async def standby(self, request: Request) -> Response:
        body = await _body(request)
        value = body.get("standby", True)
        if not isinstance(value, bool):
            raise BadRequest(f"body.standby: expected true or false, got {value!r}")
        self.saas.cosigner(request.path_params["id"])  # NotFound for an unknown co-signer
        self.saas.set_standby(request.path_params["id"], value)
        return JSONResponse({"standby": value})

    def app(self) -> Starlette:
        g = _guarded
        return Starlette(
            routes=[
                Route("/health", g(self.health), methods=["GET"]),
                Route("/workspace", g(self.workspace), methods=["POST"]),
                Route("/workspaces/{ws}", g(self.workspace_state), methods=["GET"]),
                Route("/workspaces/{ws}/pairing-tokens", g(self.pairing_token), methods=["POST"]),
                Route("/workspaces/{ws}/transactions", g(self.submit), methods=["POST"]),
                Route("/workspaces/{ws}/policy", g(self.policy), methods=["PUT"]),
                Route("/workspaces/{ws}/pair", g(self.pair), methods=["POST"]),
                Route("/workspaces/{ws}/unpair", g(self.unpair), methods=["POST"]),
                Route("/transactions", g(self.transactions), methods=["GET"]),
                Route("/transactions/{id}", g(self.transaction), methods=["GET"]),
                Route("/requests/{id}", g(self.request_status), methods=["GET"]),
                Route("/cosigners", g(self.cosigners), methods=["GET"]),
                Route("/cosigners/{id}/standby", g(self.standby), methods=["POST"]),
            ]
        )
