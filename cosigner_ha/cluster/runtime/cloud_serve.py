"""`cosigner-ha cloud serve`: the cloud services Nitro and GCP co-signers use, as a process on loopback.

Two key management services (`aws`, verifying Nitro attestation documents; `gcp`, verifying Confidential
Space tokens) and object-store buckets, with the same semantics as the simulated ones
(`cluster/infra/cloud.py`, whose classes do the work here): a data key is released only to an attested
enclave whose image satisfies the key policy (PCR8 for Nitro, the image digest for GCP), sealed to the
enclave's key; bucket objects are read and written by role. Why not moto's server mode: moto's KMS keeps
key policies but does not evaluate them, and does not implement the `Recipient` attestation parameter of
`Decrypt`/`GenerateDataKey`, so it cannot refuse an image whose measurement does not match; this small
service can, with the same code the simulation runs.

JSON over HTTP (bytes in base64); the launcher's calls create keys and buckets and apply faults:

    POST /kms/{kms}/keys                {"key_id", "roles", "pcr8"?, "image_digest"?}     (launcher)
    PUT  /kms/{kms}/keys/{key}/policy   the same fields: a fault (another image, a revoked role)
    POST /kms/{kms}/generate-data-key   {"key_id", "role", "attestation"}
    POST /kms/{kms}/decrypt             {"key_id", "ciphertext_blob", "role", "attestation"}
    POST /buckets                       {"name", "roles"}                                  (launcher)
    GET  /buckets/{name}?role=R&prefix=P     {"keys", "version"}
    GET  /buckets/{name}/version
    GET|PUT|DELETE /buckets/{name}/o/{key}?role=R     the object's bytes
    POST /buckets/{name}/lose           a fault: every object gone

A refusal is `{"error", "message"}`: 403 ACCESS_DENIED or ATTESTATION, 503 BUCKET_FAULT, 400 otherwise.
State (keys, policies, objects) is kept in `STATE/cloud.json`, rewritten atomically after each change, so
a restart loses nothing. Ready file `STATE/ready.json` (`pid`, `url`); events in `STATE/trace.jsonl`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosigner_ha.cluster.infra import AttestationDocument, Bucket, KeyPolicy, Kms, VendorKey
from cosigner_ha.cluster.runtime.http_services import LOOPS, HttpServers, run_service
from cosigner_ha.cluster.runtime.trace_merge import record_started
from cosigner_ha.env import Environment
from cosigner_ha.env.files import write_text_atomic
from cosigner_ha.node.errors import AccessDenied, AttestationError, BucketFault, InfraError

READY_FILE, TRACE_FILE, STATE_FILE = "ready.json", "trace.jsonl", "cloud.json"
KMS_NAMES = ("aws", "gcp")

Handler = Callable[[Request], Awaitable[Response]]


def register(subparsers: Any) -> None:
    cloud = subparsers.add_parser("cloud", help="KMS and buckets for Nitro and GCP co-signers (runtime)")
    sub = cloud.add_subparsers(dest="cloud_command", required=True)
    p = sub.add_parser("serve", help="serve the KMS and object-store APIs over HTTP on loopback")
    p.add_argument(
        "--state", type=Path, required=True, metavar="DIR", help="keys, objects, trace, ready file"
    )
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    p.add_argument("--nitro-vendor-key", help="AWS Nitro's attestation public key (hex)")
    p.add_argument("--cs-vendor-key", help="Google Confidential Space's attestation public key (hex)")
    p.add_argument("--loop", choices=LOOPS, default="trio")


class BadRequest(ValueError):
    pass


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise BadRequest(f"body.{field}: expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise BadRequest(f"body.{field}: not base64") from None


def attestation_to_json(attestation: Any) -> Any:
    """What a node's enclave hands KMS, as JSON: a Nitro document, a Confidential Space token, or nothing."""
    if isinstance(attestation, AttestationDocument):
        return {"nitro": {"payload": b64(attestation.payload), "signature": b64(attestation.signature)}}
    if isinstance(attestation, str):
        return {"token": attestation}
    return None


def attestation_from_json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict) and isinstance(value.get("token"), str):
        return value["token"]
    if isinstance(value, dict) and isinstance(value.get("nitro"), dict):
        doc = value["nitro"]
        return AttestationDocument(
            unb64(doc.get("payload"), "attestation.nitro.payload"),
            unb64(doc.get("signature"), "attestation.nitro.signature"),
        )
    raise BadRequest('body.attestation: expected {"nitro": {...}}, {"token": ...} or null')


class CloudServices:
    def __init__(self, env: Environment, state: Path, nitro: VendorKey | None, cs: VendorKey | None) -> None:
        self.env = env
        self.path = state / STATE_FILE
        self.kms = {
            "aws": Kms(env.randbytes, env.clock.wall, name="aws-kms", nitro=nitro),
            "gcp": Kms(env.randbytes, env.clock.wall, name="gcp-kms", confidential_space=cs),
        }
        self.buckets: dict[str, Bucket] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            for name, keys in data["kms"].items():
                self.kms[name].restore(keys)
            for name, item in data["buckets"].items():
                bucket = self.buckets[name] = Bucket(name, roles=tuple(item["roles"]))
                objects = {k: base64.b64decode(v) for k, v in item["objects"].items()}
                bucket.restore(objects, int(item["version"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{self.path}: not the cloud services' state ({type(exc).__name__}: {exc})"
            ) from None

    def save(self) -> None:
        data = {
            "kms": {name: kms.export() for name, kms in self.kms.items()},
            "buckets": {
                name: {
                    "roles": list(b.roles),
                    "version": b.version,
                    "objects": {k: b64(v) for k, v in b.export().items()},
                }
                for name, b in self.buckets.items()
            },
        }
        write_text_atomic(self.path, json.dumps(data) + "\n")

    def _kms(self, request: Request) -> Kms:
        name = request.path_params["kms"]
        if name not in self.kms:
            raise BadRequest(f"no KMS {name!r}; there are {', '.join(KMS_NAMES)}")
        return self.kms[name]

    def _bucket(self, request: Request) -> Bucket:
        name = request.path_params["name"]
        bucket = self.buckets.get(name)
        if bucket is None:
            raise AccessDenied(f"no bucket {name!r}")
        return bucket

    # --- KMS -----------------------------------------------------------------------------------------------

    async def create_key(self, request: Request) -> Response:
        body = await _json(request)
        kms = self._kms(request)
        key_id = _text(body, "key_id")
        kms.create_key(key_id, _policy(body))
        self.save()
        self.env.trace.record("kms_key_created", kms=kms.name, key=key_id)
        return JSONResponse({"key_id": key_id}, status_code=201)

    async def set_policy(self, request: Request) -> Response:
        body = await _json(request)
        kms = self._kms(request)
        key_id = request.path_params["key"]
        kms.set_policy(key_id, _policy(body))
        self.save()
        self.env.trace.record("kms_policy_set", kms=kms.name, key=key_id)
        return JSONResponse({"key_id": key_id})

    async def generate_data_key(self, request: Request) -> Response:
        body = await _json(request)
        kms = self._kms(request)
        key = kms.generate_data_key(
            _text(body, "key_id"),
            role=body.get("role"),
            attestation=attestation_from_json(body.get("attestation")),
        )
        self.env.trace.record("kms_data_key", kms=kms.name, key=body["key_id"], role=body.get("role"))
        return JSONResponse(
            {
                "ciphertext_blob": b64(key.ciphertext_blob),
                "ciphertext_for_recipient": b64(key.ciphertext_for_recipient),
            }
        )

    async def decrypt(self, request: Request) -> Response:
        body = await _json(request)
        kms = self._kms(request)
        sealed = kms.decrypt(
            _text(body, "key_id"),
            unb64(body.get("ciphertext_blob"), "ciphertext_blob"),
            role=body.get("role"),
            attestation=attestation_from_json(body.get("attestation")),
        )
        self.env.trace.record("kms_decrypt", kms=kms.name, key=body["key_id"], role=body.get("role"))
        return JSONResponse({"plaintext_for_recipient": b64(sealed)})

    # --- buckets -------------------------------------------------------------------------------------------

    async def create_bucket(self, request: Request) -> Response:
        body = await _json(request)
        name = _text(body, "name")
        roles = body.get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise BadRequest("body.roles: expected a list of role names")
        if name in self.buckets:
            raise BadRequest(f"body.name: bucket {name!r} exists already")
        self.buckets[name] = Bucket(name, roles=tuple(roles))
        self.save()
        return JSONResponse({"name": name}, status_code=201)

    async def list_objects(self, request: Request) -> Response:
        bucket = self._bucket(request)
        keys = bucket.list(request.query_params.get("prefix", ""), role=request.query_params.get("role"))
        return JSONResponse({"keys": keys, "version": bucket.version})

    async def version(self, request: Request) -> Response:
        return JSONResponse({"version": self._bucket(request).version})

    async def get_object(self, request: Request) -> Response:
        bucket = self._bucket(request)
        data = bucket.get(request.path_params["key"], role=request.query_params.get("role"))
        if data is None:
            return JSONResponse(
                {"error": "NO_SUCH_KEY", "message": request.path_params["key"]}, status_code=404
            )
        return Response(data, media_type="application/octet-stream")

    async def put_object(self, request: Request) -> Response:
        bucket = self._bucket(request)
        bucket.put(request.path_params["key"], await request.body(), role=request.query_params.get("role"))
        self.save()
        return JSONResponse({"version": bucket.version})

    async def delete_object(self, request: Request) -> Response:
        bucket = self._bucket(request)
        bucket.delete(request.path_params["key"], role=request.query_params.get("role"))
        self.save()
        return JSONResponse({"version": bucket.version})

    async def lose(self, request: Request) -> Response:
        bucket = self._bucket(request)
        bucket.lose()
        self.save()
        self.env.trace.record("bucket_lost", bucket=bucket.name)
        return JSONResponse({"version": bucket.version})

    def _refused(self, request: Request, code: str, exc: Exception) -> JSONResponse:
        """A request refused for what the caller is (its attestation, its role): a 403 and a `cloud_refused`
        event, so a drill's trace shows why a tampered image got no key."""
        self.env.trace.record("cloud_refused", path=request.url.path, code=code, reason=str(exc))
        return _error(403, code, str(exc))

    def app(self) -> Starlette:
        def guarded(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                try:
                    return await handler(request)
                except AttestationError as exc:
                    return self._refused(request, "ATTESTATION", exc)
                except AccessDenied as exc:
                    return self._refused(request, "ACCESS_DENIED", exc)
                except BucketFault as exc:
                    return _error(503, "BUCKET_FAULT", str(exc))
                except InfraError as exc:
                    return _error(400, "INFRA", str(exc))
                except BadRequest as exc:
                    return _error(400, "BAD_REQUEST", str(exc))

            return endpoint

        g = guarded
        return Starlette(
            routes=[
                Route("/health", g(self.health), methods=["GET"]),
                Route("/kms/{kms}/keys", g(self.create_key), methods=["POST"]),
                Route("/kms/{kms}/keys/{key}/policy", g(self.set_policy), methods=["PUT"]),
                Route("/kms/{kms}/generate-data-key", g(self.generate_data_key), methods=["POST"]),
                Route("/kms/{kms}/decrypt", g(self.decrypt), methods=["POST"]),
                Route("/buckets", g(self.create_bucket), methods=["POST"]),
                Route("/buckets/{name}", g(self.list_objects), methods=["GET"]),
                Route("/buckets/{name}/version", g(self.version), methods=["GET"]),
                Route("/buckets/{name}/lose", g(self.lose), methods=["POST"]),
                Route("/buckets/{name}/o/{key:path}", g(self.get_object), methods=["GET"]),
                Route("/buckets/{name}/o/{key:path}", g(self.put_object), methods=["PUT"]),
                Route("/buckets/{name}/o/{key:path}", g(self.delete_object), methods=["DELETE"]),
            ]
        )

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "buckets": sorted(self.buckets)})


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise BadRequest(f"body: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    return body


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"body.{field}: expected a non-empty string, got {value!r}")
    return value


def _policy(body: dict[str, Any]) -> KeyPolicy:
    roles = body.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise BadRequest("body.roles: expected a list of role names")
    pcr8, digest = body.get("pcr8"), body.get("image_digest")
    try:
        pcr8_bytes = None if pcr8 is None else bytes.fromhex(pcr8)
    except (TypeError, ValueError):
        raise BadRequest(f"body.pcr8: expected hex, got {pcr8!r}") from None
    if digest is not None and not isinstance(digest, str):
        raise BadRequest(f"body.image_digest: expected text, got {digest!r}")
    return KeyPolicy(tuple(roles), pcr8_bytes, digest)


def _vendor(text: str | None, what: str) -> VendorKey | None:
    if text is None:
        return None
    try:
        return VendorKey(bytes.fromhex(text))
    except ValueError as exc:
        raise ValueError(f"{what} {text!r}: expected a 32-byte public key in hex ({exc})") from None


async def serve(args: argparse.Namespace, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    nitro = _vendor(args.nitro_vendor_key, "--nitro-vendor-key")
    cs = _vendor(args.cs_vendor_key, "--cs-vendor-key")
    state: Path = args.state
    state.mkdir(parents=True, exist_ok=True)
    (state / READY_FILE).unlink(missing_ok=True)
    with (state / TRACE_FILE).open("a", buffering=1) as sink:
        env = Environment.runtime(header={"role": "cloud", "pid": os.getpid()}, sink=sink)
        record_started(env, "cloud", "cloud")
        services = CloudServices(env, state, nitro, cs)
        async with anyio.create_task_group() as tasks:
            servers = HttpServers(tasks)
            urls = await servers.start(services.app(), args.listen)
            ready = {"pid": os.getpid(), "url": urls[0]}
            write_text_atomic(state / READY_FILE, json.dumps(ready) + "\n")
            print(f"cloud services ready: {urls[0]}", flush=True)
            task_status.started(ready)
            await servers.serve_until_signalled()


def run(args: argparse.Namespace) -> int:
    return run_service(serve, args, (ValueError, OSError))
