"""The format's key tables: which sections exist and which keys each fault action and workload takes.

Shared by the loader (to refuse what does not belong), the writer and the documentation test, and by the
fault injector, which needs to know what each action carries.
"""

from __future__ import annotations

from cosigner_ha.cluster.scenario.model import FaultAction

#: Top-level sections, in the order the documentation and `to_toml` use.
SECTIONS = (
    "scenario",
    "saas",
    "workspace",
    "workspaces",
    "users",
    "api_users",
    "groups",
    "nodes",
    "callbacks",
    "policy",
    "workload",
    "faults",
    "expect",
)

WORKLOAD_KEYS = (
    "name",
    "initiator",
    "asset",
    "amount",
    "source",
    "destination",
    "destination_address",
    "operation",
    "rate",
    "start",
    "stop",
    "at",
    "count",
    "extra_parameters",
)
#: Which target keys each fault action takes; exactly one of them must be given (none for `policy`).
FAULT_TARGETS: dict[FaultAction, tuple[str, ...]] = {
    FaultAction.CRASH: ("node", "site"),
    FaultAction.RESTART: ("node", "site"),
    FaultAction.PAUSE: ("node", "site"),
    FaultAction.PARTITION: ("node", "site", "link"),
    FaultAction.LATENCY: ("node", "site", "link"),
    FaultAction.LOSS: ("node", "site", "link"),
    FaultAction.SITE_OUTAGE: ("site",),
    FaultAction.CALLBACK: ("callback",),
    FaultAction.DISK_LOSS: ("node",),
    FaultAction.ATTESTATION: ("node",),
    FaultAction.CLOCK_SKEW: ("node", "site"),
    FaultAction.POLICY: (),
    FaultAction.UNPAIR: ("node",),
    FaultAction.PAIR: ("node",),
}
#: The action's own keys besides at, action, the targets and `for`.
FAULT_KEYS: dict[FaultAction, tuple[str, ...]] = {
    FaultAction.LATENCY: ("amount", "jitter"),
    FaultAction.LOSS: ("ratio",),
    FaultAction.CALLBACK: ("mode",),
    FaultAction.DISK_LOSS: ("backup", "new_host"),
    FaultAction.CLOCK_SKEW: ("skew",),
    FaultAction.POLICY: ("rules", "fireblocks_json", "workspace"),
    FaultAction.UNPAIR: ("api_user",),
    FaultAction.PAIR: ("api_user", "token_age"),
}
#: Actions that can be undone after `for`; the others happen once.
FAULTS_WITH_FOR = frozenset(
    {
        FaultAction.CRASH,
        FaultAction.PAUSE,
        FaultAction.PARTITION,
        FaultAction.LATENCY,
        FaultAction.LOSS,
        FaultAction.SITE_OUTAGE,
        FaultAction.CALLBACK,
        FaultAction.DISK_LOSS,
        FaultAction.ATTESTATION,
        FaultAction.CLOCK_SKEW,
    }
)
