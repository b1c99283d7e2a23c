"""The co-signer node: lifecycle, local administration, and the long-poll agent.

A `Node` is handed everything from outside (environment, enclave backend, network, SaaS address,
in-process callback handlers) and runs as one task: `await node.run()` in the cluster runner's nursery.
It boots (attests and opens its sealed database), then long-polls the SaaS and handles the work the polls
bring: availability probes, signing requests (callback handler, then FROST rounds), configuration changes,
management commands. Faults and operations are methods: `crash()`, `stop()` (drain, then stop), `start()`,
`restart()`, `shutdown()`; the local administration commands are `setup`, `add_user`, `callback_update`,
`list_users`, `print_public_key`, `logs`, and for SGX `backups` / `restore_backup`.
"""

from __future__ import annotations

import anyio.abc

from cosigner_ha.node.core import NodeConfig, State, UserInfo
from cosigner_ha.node.work import WorkHandlers, settings_from_handler

__all__ = ["Node", "NodeConfig", "State", "UserInfo", "settings_from_handler"]


class Node(WorkHandlers):
    """One co-signer. See the module docstring; `docs/node.md` has the whole API.

    Construct it inside the event loop (it holds anyio events and locks).
    """

    def _serve(self, tasks: anyio.abc.TaskGroup) -> None:
        tasks.start_soon(self._poll_loop)
        secrets = self.proc.db.secrets if self.proc.db else None
        for pending in secrets.pending if secrets else ():
            tasks.start_soon(self._resume_pairing, pending)
        if self._initial_token and not (secrets and secrets.users):
            tasks.start_soon(self._deploy_pairing)
