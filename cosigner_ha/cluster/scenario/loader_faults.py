"""Reading `[[faults]]`: what happens to the world during the run, each fault aimed at something declared,
and the pairing timeline they imply."""

from __future__ import annotations

from typing import Any

from cosigner_ha.cluster.scenario.durations import format_duration
from cosigner_ha.cluster.scenario.keys import (
    FAULT_KEYS,
    FAULT_TARGETS,
    FAULTS_WITH_FOR,
)
from cosigner_ha.cluster.scenario.loader_base import (
    SITE,
)
from cosigner_ha.cluster.scenario.loader_workspaces import WorkspacesReader
from cosigner_ha.cluster.scenario.model import (
    SAAS_ENDPOINT,
    SIGNING_ROLES,
    CallbackFaultMode,
    Enclave,
    Fault,
    FaultAction,
    site_is_under,
)
from cosigner_ha.cluster.scenario.reading import (
    BOOL,
    DURATION,
    POSITIVE_DURATION,
    SIGNED_DURATION,
    Conv,
    Table,
    array,
    choice,
    did_you_mean,
    number,
    one_of,
    strings_in,
)


class FaultReader(WorkspacesReader):
    """A `policy` fault publishes a policy read as `[policy]` is (in its workspace's names), hence the base."""

    def faults(self, tables: list[Table]) -> list[Fault]:
        out: list[tuple[Fault, Table]] = []
        for t in tables:
            if (fault := self.fault(t)) is not None:
                out.append((fault, t))
        self.check_pairing_timeline(out)
        return [fault for fault, _ in out]

    def fault(self, t: Table) -> Fault | None:
        mark = self.mark()
        at = self.time(t, "at")
        action = t.require("action", choice(FaultAction))
        if action is None:  # its other keys cannot be judged without knowing the action
            return None
        targets = FAULT_TARGETS[action]
        own = FAULT_KEYS.get(action, ())
        allowed = ("at", "action", *targets, *(("for",) if action in FAULTS_WITH_FOR else ()), *own)
        given = [k for k in targets if k in t.data]
        if targets and len(given) != 1:
            listed = " or ".join(targets)
            t.error(
                given[1] if len(given) > 1 else "",
                f"expected exactly one target for a {action} fault: {listed}"
                + (f"; got {', '.join(given)}" if given else ""),
            )
        fields: dict[str, Any] = {}
        if "node" in given:
            fields["node"] = t.require("node", self.refs.node())
        if "site" in given:
            site = t.require("site", SITE)
            sites = list(dict.fromkeys(self.node_sites))
            if site is not None and sites and not any(site_is_under(s, site) for s in sites):
                t.error(
                    "site",
                    f"site prefix {site!r} matches no node; expected a prefix of {one_of('node sites', sites)}{did_you_mean(site, sites)}",
                )
            fields["site"] = site
        if "link" in given:
            endpoints = [SAAS_ENDPOINT, *self.refs.nodes]
            ends = t.require("link", array(self._endpoint(endpoints)))
            if ends is not None and len(ends) != 2:
                t.error("link", f"expected two endpoints (node names or {SAAS_ENDPOINT!r}), got {len(ends)}")
            fields["link"] = ends
        if "callback" in given:
            name = t.require("callback", self.refs.callback())
            if name is not None and name not in self.callback_users:
                t.error(
                    "callback",
                    f"no API user uses callback {name!r}; expected a callback some [[api_users]] names",
                )
            fields["callback"] = name
        if action in FAULTS_WITH_FOR:
            fields["for_"] = t.get("for", POSITIVE_DURATION, None)
        if action is FaultAction.LATENCY:
            fields["amount"] = t.require("amount", POSITIVE_DURATION)
            fields["jitter"] = t.get("jitter", DURATION, None)
        elif action is FaultAction.LOSS:
            fields["ratio"] = t.require("ratio", number(hi=1, above=0))
        elif action is FaultAction.CALLBACK:
            fields["mode"] = t.require("mode", choice(CallbackFaultMode))
        elif action is FaultAction.DISK_LOSS:
            fields["backup"] = t.get("backup", BOOL, False)
            fields["new_host"] = t.get("new_host", BOOL, False)
        elif action is FaultAction.CLOCK_SKEW:
            skew = t.require("skew", SIGNED_DURATION)
            if skew == 0:
                t.error("skew", "expected a skew other than zero")
            fields["skew"] = skew
        elif action is FaultAction.POLICY:
            fields["workspace"], saved = self.policy_fault_scope(t)
            fields["policy"] = self.policy_spec(t)
            self.leave_scope(saved)
        elif action in (FaultAction.PAIR, FaultAction.UNPAIR):
            user = t.require("api_user", self.refs.api_user())
            if action is FaultAction.PAIR and user is not None:
                role = self.roles.get(user)
                if role is not None and role not in SIGNING_ROLES:
                    t.error(
                        "api_user",
                        f"API user {user!r} has role {role}, which cannot sign; expected an API user with role SIGNER or ADMIN",
                    )
            fields["api_user"] = user
            if action is FaultAction.PAIR:
                fields["token_age"] = self.token_age(t, at, fields.get("node"))
        self.finish_fault(t, action, allowed)
        if not self.clean_since(mark) or at is None:
            return None
        return Fault(at=at, action=action, **fields)

    def token_age(self, t: Table, at: float | None, node: str | None) -> float | None:
        """`token_age` of a pair fault: the token waits this long between the console and the node."""
        age = t.get("token_age", POSITIVE_DURATION, None)
        if age is None:
            return None
        if node is not None and self.enclaves.get(node) is Enclave.GCP:
            t.error(
                "token_age",
                f"node {node} is a gcp co-signer, paired through the SaaS, which hands it a fresh token at "
                "once; expected a pair fault on an sgx, nitro or communal node (an operator carries its token)",
            )
        end = self.duration
        if at is not None and end is not None and at + age >= end:
            t.error(
                "token_age",
                f"the token would be used at {format_duration(at + age)}, at or after the end of the run "
                f"(scenario.duration = {format_duration(end)}); expected at + token_age before the end",
            )
        return age

    def finish_fault(self, t: Table, action: FaultAction, allowed: tuple[str, ...]) -> None:
        """Unknown keys, telling apart a key of another action from a plain misspelling."""
        every = {k for a in FaultAction for k in (*FAULT_TARGETS[a], *FAULT_KEYS.get(a, ()))} | {"for"}
        for key in t.data:
            if key in allowed:
                continue
            if key in every:
                users = [
                    a.value
                    for a in FaultAction
                    if key in FAULT_TARGETS[a]
                    or key in FAULT_KEYS.get(a, ())
                    or (key == "for" and a in FAULTS_WITH_FOR)
                ]
                t.error(
                    key,
                    f"{key!r} does not apply to a {action} fault (it belongs to {', '.join(users)}); expected {', '.join(allowed)}",
                )
            else:
                t.error(
                    key,
                    f"unknown key {key!r} in a {action} fault{did_you_mean(key, allowed)}; expected {', '.join(allowed)}",
                )

    def _endpoint(self, endpoints: list[str]) -> Conv[str]:
        return strings_in(endpoints, one_of(f"link endpoints ({SAAS_ENDPOINT!r} or a node name)", endpoints))

    def gcp_refuses(self, node: str, user: str, paired: dict[str, str]) -> bool:
        """Whether the SaaS refuses this pairing because the node is a GCP co-signer already serving
        another workspace: a `fault_error` (GCP_SINGLE_WORKSPACE) at run time, not a mistake in the file."""
        if self.enclaves.get(node) is not Enclave.GCP or user not in self.user_workspace:
            return False
        served = {self.user_workspace.get(u) for u, n in paired.items() if n == node}
        return bool(served) and self.user_workspace[user] not in served

    def check_pairing_timeline(self, faults: list[tuple[Fault, Table]]) -> None:
        """Walk pair/unpair faults in time order: pair an unpaired API user, unpair a paired one."""
        paired = dict(self.served_by)
        ordered = sorted(enumerate(faults), key=lambda item: (item[1][0].effective_at, item[0]))
        validity = self.token_validity
        for _, (fault, t) in ordered:
            user, node = fault.api_user, fault.node
            if user is None or node is None:
                continue
            when = format_duration(fault.effective_at)
            if fault.action is FaultAction.PAIR:
                expired = validity is not None and (fault.token_age or 0.0) >= validity
                if user in paired:
                    t.error(
                        "api_user",
                        f"API user {user!r} is paired with node {paired[user]} at {when}; expected an unpaired API user (unpair it first)",
                    )
                elif not expired and not self.gcp_refuses(node, user, paired):
                    paired[user] = node  # an expired token, a refused pairing: the API user stays unpaired
            elif fault.action is FaultAction.UNPAIR:
                if paired.get(user) != node:
                    now = f"is paired with node {paired[user]}" if user in paired else "is not paired"
                    t.error(
                        "api_user",
                        f"API user {user!r} {now} at {when}; expected an API user node {node} serves then",
                    )
                else:
                    del paired[user]
