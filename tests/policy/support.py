"""Shared test data: the seed document's HA workspace (Tywin approves, Group 1 holds the co-signers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cosigner_ha.policy import Transaction

WORKSPACE_TOML = """
[scenario]
name = "seed-ha"
seed = 1

[workspace]
name = "acme"
env = "mainnet"
prices_usd = { BTC = 60000, ETH = 3000, USDC = 1 }
eur_usd = 1.25
vaults = ["0", "hot", "treasury"]
exchanges = ["exch-main"]
fiat_accounts = ["bank-usd"]
wallets = ["cold", "partner-a"]

[[users]]
name = "tywin"
role = "OWNER"
id = "u-tywin"
[[users]]
name = "cersei"
role = "ADMIN"
id = "u-cersei"
[[users]]
name = "jaime"
role = "SIGNER"
id = "u-jaime"
[[users]]
name = "varys"
role = "VIEWER"

[[api_users]]
name = "ops"
role = "EDITOR"
id = "a-ops"
[[api_users]]
name = "signer-a"
role = "SIGNER"
id = "a-signer-a"
[[api_users]]
name = "signer-b"
role = "SIGNER"
id = "a-signer-b"
[[api_users]]
name = "signer-c"
role = "ADMIN"
id = "a-signer-c"
[[api_users]]
name = "bot"
role = "SIGNER"

[[groups]]
name = "group-1"
id = "g-1"
members = ["signer-a", "signer-b", "signer-c"]
[[groups]]
name = "council"
members = ["tywin", "cersei"]

[[nodes]]
name = "nitro-a"
enclave = "nitro"
site = "aws/us-east-1/a"
api_users = ["signer-a"]
[[nodes]]
name = "nitro-b"
enclave = "nitro"
site = "aws/us-east-1/b"
api_users = ["signer-b"]
[[nodes]]
name = "sgx-dc1"
enclave = "sgx"
site = "onprem/dc1"
api_users = ["signer-c"]
standby = true
"""

TOPOLOGY = {"nitro-a": ["signer-a"], "nitro-b": ["signer-b"], "sgx-dc1": ["signer-c"]}


def tx(**overrides: Any) -> Transaction:
    """A 1 ETH transfer from the hot vault to a whitelisted wallet, initiated by Jaime at t=0."""
    fields: dict[str, Any] = {
        "initiator": "jaime",
        "operation": "TRANSFER",
        "asset": "ETH",
        "amount": 1,
        "source": "vault:hot",
        "destination": "wallet:cold",
        "at": 0.0,
    }
    fields.update(overrides)
    return Transaction(**fields)


def write(path: Path, content: str | dict[str, Any]) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path
