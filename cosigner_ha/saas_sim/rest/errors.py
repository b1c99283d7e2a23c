"""The REST API's refusals, in Fireblocks' error body `{"message": ..., "code": ...}` (the SDK's
`ErrorSchema`).

Authentication codes -1 to -12 are Fireblocks' documented ones (developers.fireblocks.com, "API
responses"); Fireblocks documents no code for a wrong body hash or a replayed nonce, so those two (-9, -11)
and the positive codes below are this project's, stable, and listed in docs/rest-api.md.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

from cosigner_ha.saas_sim.errors import Conflict, Forbidden, NotFound, SaasError, ValidationError

# --- authentication (401) and permission (403) -------------------------------------------------------------
INVALID_SIGNATURE = -1
MISSING_API_KEY = -2
MISSING_JWT = -3
WRONG_URI = -4
INVALID_TOKEN_FORMAT = -5
WRONG_USER = -6
TOKEN_NOT_ACCEPTED = -7
INSUFFICIENT_PERMISSIONS = -8
WRONG_BODY_HASH = -9
EXPIRED = -10
NONCE_REPLAYED = -11
FUTURE_IAT = -12

# --- requests -----------------------------------------------------------------------------------------------
INVALID_REQUEST = 1400  # a malformed body or parameter; the message names the field
CONFLICT = 1409  # a repeated externalTxId, a state that forbids the change
NOT_FOUND = 1404  # a transaction, co-signer, API key or request that does not exist
VAULT_NOT_FOUND = 1004  # Fireblocks' own code
ASSET_NOT_FOUND = 1006  # Fireblocks' own code
NO_SUCH_ENDPOINT = 1000404  # a path or method the local API does not serve
INTERNAL = 1500


#: HTTP status -> `ErrorResponse.error.type`, the body the management endpoints (`/v1/management/...`) use.
ERROR_TYPES = {
    400: "VALIDATION",
    401: "AUTHENTICATION",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "VALIDATION",
}


class ApiError(Exception):
    """A refusal with its HTTP status and Fireblocks error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self, *, management: bool = False) -> JSONResponse:
        return error_response(self.status, self.code, self.message, management=management)


def error_response(
    status: int, code: int, message: str, headers: dict[str, str] | None = None, *, management: bool = False
) -> JSONResponse:
    """`ErrorSchema`; for the management endpoints also `ErrorResponse`'s `error` (the SDK reads that there)."""
    body: dict[str, Any] = {"message": message, "code": code}
    if management:
        body["error"] = {"type": ERROR_TYPES.get(status, "INTERNAL"), "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


def bad_request(field: str, problem: str) -> ApiError:
    """400 naming the field as the request spells it (`source.id`, `amount`, `limit`)."""
    return ApiError(400, INVALID_REQUEST, f"{field}: {problem}")


def not_found(message: str, code: int = NOT_FOUND) -> ApiError:
    return ApiError(404, code, message)


def from_saas(exc: SaasError, *, fields: dict[str, str] | None = None) -> ApiError:
    """The SaaS's refusal as the API reports it; `fields` maps the SaaS's key paths (`transaction.asset`)
    to the request's (`assetId`) so that the message names what the client sent."""
    message = exc.message
    for internal, external in (fields or {}).items():
        if message.startswith(internal + ":"):
            message = external + message[len(internal) :]
            break
    if isinstance(exc, ValidationError):
        return ApiError(400, INVALID_REQUEST, message)
    if isinstance(exc, Forbidden):
        return ApiError(403, INSUFFICIENT_PERMISSIONS, message)
    if isinstance(exc, NotFound):
        return ApiError(404, NOT_FOUND, message)
    if isinstance(exc, Conflict):
        return ApiError(400, CONFLICT, message)
    return ApiError(400, INVALID_REQUEST, f"{exc.code}: {message}")


def json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what was wrong with it."""
    if not body:
        raise bad_request("body", "expected a JSON object, got an empty body")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request("body", f"expected a JSON object, got invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise bad_request("body", f"expected a JSON object, got {type(data).__name__}")
    return data
