"""A running node's admin socket as the launcher uses it (`node start` serves `HOME/admin.sock`): a request
retried until the node serves it (a node just started may not yet), and the key its callback handlers
check its request JWTs against."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio

from cosigner_ha.cluster import admin_socket
from cosigner_ha.cluster.runtime.processes import POLL, ProcessFailed

#: Real seconds a running node gets to answer on its admin socket.
ADMIN_LIMIT = 10.0
PEM = re.compile(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", re.S)


async def ask(home: Path, name: str, request: dict[str, Any], what: str) -> list[str]:
    """The running node's answer to an admin request on its socket; `ProcessFailed` naming `what` when it
    does not take it within `ADMIN_LIMIT`."""
    answered: admin_socket.Answer | None = None
    with anyio.move_on_after(ADMIN_LIMIT):
        while answered is None:
            answered = await admin_socket.ask_running(home, request)
            if answered is None:
                await anyio.sleep(POLL)
    if answered is None or answered[0] != 0:
        why = "no answer" if answered is None else answered[2]
        raise ProcessFailed(f"{name}: its admin socket did not take {what} ({why})")
    return answered[1]


async def callback_key(home: Path, name: str) -> str:
    """The node's callback public key (PEM), every enclave kind (print-public-key's key)."""
    request = {"command": "callback-public-key"}
    text = "\n".join(await ask(home, name, request, "callback-public-key"))
    found = PEM.findall(text)
    if not found:
        raise ProcessFailed(f"{name}: print-public-key printed no PEM key:\n{text}")
    return str(found[-1]) + "\n"
