"""Who is who in an API user's 3-of-3 FROST share set: a convention of the protocol, which both the node
and the SaaS read from here (they never import each other)."""

from __future__ import annotations

#: The API co-signer's identifier in every API user's share set.
NODE_IDENTIFIER = 1
#: The two cloud co-signers' identifiers, in the workspace key's set and in every API user's.
CLOUD_IDENTIFIERS = (2, 3)
#: Signers needed: all three, so that no signature exists without the customer's co-signer.
SHARE_THRESHOLD = 3

__all__ = ["CLOUD_IDENTIFIERS", "NODE_IDENTIFIER", "SHARE_THRESHOLD"]
