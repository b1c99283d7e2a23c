"""One error hierarchy for the co-signer, rooted at `NodeError`.

Every message says what was wrong, where (host, file, bucket object, API user, field) and what was
expected, because the reader is an operator at the console of a co-signer that will not start.
"""

from __future__ import annotations


class NodeError(Exception):
    """Anything the co-signer refuses or fails at."""


# --- simulated hardware and cloud ------------------------------------------------------------------------


class InfraError(NodeError):
    """A simulated piece of infrastructure refused or failed."""


class DiskFault(InfraError):
    """The disk failed at a write step (power loss): everything not yet durable is gone."""


class BucketFault(InfraError):
    """The object store failed a request (the object was not written)."""


class AccessDenied(InfraError):
    """A principal asked for something its grants do not allow (bucket object, KMS key)."""


class AttestationError(NodeError):
    """The enclave could not prove what it runs: image signature, measurement, PCR8, image digest."""


class ImageRejected(AttestationError):
    """The enclave image is tampered with or not signed by the trusted image key: it does not start."""


# --- the sealed database ---------------------------------------------------------------------------------


class StoreError(NodeError):
    """The sealed database cannot be read or written."""


class DatabaseMissing(StoreError):
    """No database where one was expected (or its key is gone while the database is there)."""


class DatabaseCorrupt(StoreError):
    """The file is not a sealed database of this format (bad magic, truncated, undecodable contents)."""


class DatabaseTampered(StoreError):
    """Authentication failed: the sealed bytes were modified, or were sealed under another key."""


class WrongHost(StoreError):
    """An SGX-sealed key was sealed by another CPU: sealed data opens only where it was sealed."""


# --- administration and protocol -------------------------------------------------------------------------


class AdminError(NodeError):
    """A local administration command was refused."""


class PairingError(NodeError):
    """Pairing an API user failed: token refused, approval refused, or bad key material from the SaaS."""

    def __init__(self, message: str, *, code: str = "PAIRING_FAILED") -> None:
        super().__init__(message)
        self.code = code


class SaasError(NodeError):
    """The SaaS refused a request (an `Error` response), or answered with the wrong kind of message."""

    def __init__(self, message: str, *, code: str = "PROTOCOL") -> None:
        super().__init__(message)
        self.code = code


class SaasUnreachable(NodeError):
    """No answer from the SaaS: connection refused, broken, or timed out."""


class NonceError(NodeError):
    """A signing nonce cannot be used: consumed already, or the nonce ledger cannot vouch for it."""
