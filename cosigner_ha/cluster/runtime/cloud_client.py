"""A runtime node's view of `cloud serve`: the node's `Kms` and `ObjectStore` protocols (node/platform.py)
over HTTP. The protocols are synchronous (as the cloud SDKs' calls are), so each call blocks the node's
event loop for its round trip on loopback; a refusal comes back as the node's own error classes
(`AccessDenied`, `AttestationError`, `BucketFault`, `InfraError`), and a cloud that does not answer is a
`BucketFault` (nothing was written) or an `InfraError` (KMS)."""

from __future__ import annotations

from typing import Any

import httpx

from cosigner_ha.cluster.infra import DataKey
from cosigner_ha.cluster.runtime.cloud_serve import attestation_to_json, b64, unb64
from cosigner_ha.node.errors import AccessDenied, AttestationError, BucketFault, InfraError

TIMEOUT = 10.0


def _raise(response: httpx.Response, what: str, unreachable: type[InfraError] = InfraError) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
        code, message = str(body.get("error")), str(body.get("message"))
    except ValueError:
        code, message = "HTTP", response.text
    if code == "ATTESTATION":
        raise AttestationError(message)
    if code == "ACCESS_DENIED":
        raise AccessDenied(message)
    if code == "BUCKET_FAULT":
        raise BucketFault(message)
    raise unreachable(f"{what}: {message}")


class RemoteKms:
    def __init__(self, url: str, kms: str) -> None:
        self.url = url.rstrip("/")
        self.kms = kms
        self.name = f"{kms}-kms"
        self._client = httpx.Client(timeout=TIMEOUT)

    def _post(self, action: str, body: dict[str, Any]) -> Any:
        try:
            response = self._client.post(f"{self.url}/kms/{self.kms}/{action}", json=body)
        except httpx.HTTPError as exc:
            raise InfraError(f"{self.name} at {self.url} does not answer ({exc!r})") from None
        _raise(response, f"{self.name} {action}")
        return response.json()

    def generate_data_key(self, key_id: str, *, role: str | None, attestation: Any) -> DataKey:
        body = {"key_id": key_id, "role": role, "attestation": attestation_to_json(attestation)}
        answer = self._post("generate-data-key", body)
        return DataKey(
            unb64(answer["ciphertext_blob"], "ciphertext_blob"),
            unb64(answer["ciphertext_for_recipient"], "ciphertext_for_recipient"),
        )

    def decrypt(self, key_id: str, ciphertext_blob: bytes, *, role: str | None, attestation: Any) -> bytes:
        body = {
            "key_id": key_id,
            "ciphertext_blob": b64(ciphertext_blob),
            "role": role,
            "attestation": attestation_to_json(attestation),
        }
        return unb64(self._post("decrypt", body)["plaintext_for_recipient"], "plaintext_for_recipient")


class RemoteBucket:
    def __init__(self, url: str, name: str) -> None:
        self.url = url.rstrip("/")
        self.name = name
        self._client = httpx.Client(timeout=TIMEOUT)

    def _call(self, method: str, path: str, role: str | None, **kwargs: Any) -> httpx.Response:
        params = {"role": role} if role is not None else {}
        params.update(kwargs.pop("params", {}))
        try:
            return self._client.request(
                method, f"{self.url}/buckets/{self.name}{path}", params=params, **kwargs
            )
        except httpx.HTTPError as exc:
            raise BucketFault(f"bucket {self.name!r} at {self.url} does not answer ({exc!r})") from None

    @property
    def version(self) -> int:
        response = self._call("GET", "/version", None)
        _raise(response, f"bucket {self.name!r}", BucketFault)
        return int(response.json()["version"])

    def get(self, key: str, *, role: str | None) -> bytes | None:
        response = self._call("GET", f"/o/{key}", role)
        if response.status_code == 404:
            return None
        _raise(response, f"bucket {self.name!r} get {key}", BucketFault)
        return response.content

    def list(self, prefix: str = "", *, role: str | None) -> list[str]:
        response = self._call("GET", "", role, params={"prefix": prefix})
        _raise(response, f"bucket {self.name!r} list {prefix}", BucketFault)
        return [str(k) for k in response.json()["keys"]]

    def put(self, key: str, data: bytes, *, role: str | None) -> None:
        _raise(
            self._call("PUT", f"/o/{key}", role, content=data), f"bucket {self.name!r} put {key}", BucketFault
        )

    def delete(self, key: str, *, role: str | None) -> None:
        _raise(self._call("DELETE", f"/o/{key}", role), f"bucket {self.name!r} delete {key}", BucketFault)
