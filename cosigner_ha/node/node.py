"""The co-signer node: lifecycle, local administration, and the long-poll agent.

A `Node` is handed everything from outside (environment, enclave backend, network, SaaS address,
in-process callback handlers) and runs as one task: `await node.run()` in the cluster runner's nursery.
It boots (attests and opens its sealed database), then long-polls the SaaS and handles the work the polls
bring: availability probes, signing requests (callback handler, then FROST rounds), configuration changes,
management commands. Faults and operations are methods: `crash()`, `stop()` (drain, then stop), `start()`,
`restart()`, `shutdown()`; the local administration commands are `setup`, `add_user`, `callback_update`,
`list_users`, `print_public_key`, `logs`, and for SGX `backups` / `restore_backup`.

The class is assembled from layers, each in a module named for what it holds, bottom up: `core` (fields,
state, database helpers; per-process state in `process.ProcessState`), `saas_session` (access token,
authenticated calls), `pairing_flow`, `signing_work`, `agent` (poll loop, probes, configuration changes,
commands), `lifecycle` (boot, crash, stop, start), `local_admin` (the CLI's commands).
"""

from __future__ import annotations

from cosigner_ha.node.config import NodeConfig
from cosigner_ha.node.local_admin import LocalAdmin, UserInfo
from cosigner_ha.node.pairing_flow import settings_from_handler

__all__ = ["Node", "NodeConfig", "UserInfo", "settings_from_handler"]


class Node(LocalAdmin):
    """One co-signer. See the module docstring; `docs/node.md` has the whole API.

    Construct it inside the event loop (it holds anyio events and locks).
    """
