"""FROST threshold signatures (RFC 9591), key generation, refresh, resharing, nonce bookkeeping.

Pure computation on plain data; imports nothing else of ours."""
