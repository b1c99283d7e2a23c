"""Loading a scenario file: TOML in, a checked `Scenario` out, or a `ScenarioError` listing every problem.

The loader refuses, before anything runs, whatever would make a run meaningless: an unknown name or key,
a malformed duration, a wrong type, a fault aimed at nothing, a time past the end of the run, a topology
the product would not allow (an API user that cannot sign on a node, a communal co-signer in a mainnet
workspace, one API user paired with two nodes). It reads the whole file before giving up, so one run of
the loader shows everything to fix.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cosigner_ha import inputs
from cosigner_ha.cluster.scenario.errors import Problem, ScenarioError
from cosigner_ha.cluster.scenario.keys import (
    SECTIONS,
)
from cosigner_ha.cluster.scenario.loader_base import SEED_MAX, TOML_POSITION
from cosigner_ha.cluster.scenario.loader_faults import FaultReader
from cosigner_ha.cluster.scenario.model import (
    VERSION,
    CallbackFailurePolicy,
    SaasSettings,
    Scenario,
    ScenarioInfo,
    Selection,
)
from cosigner_ha.cluster.scenario.reading import (
    DURATION,
    NAME,
    POSITIVE_DURATION,
    STRING,
    Table,
    choice,
    describe,
    integer,
)


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and check a scenario file; relative paths in it are taken from the file's folder."""
    file = Path(path)
    try:
        text = inputs.read_text(file, "scenario file")
    except inputs.InputFileError as exc:
        raise ScenarioError([Problem(exc.origin, "", exc.message, exc.line, exc.column)]) from None
    return load_scenario_text(text, str(path), base_dir=file.parent)


def load_scenario_text(
    text: str, origin: str = "<scenario>", *, base_dir: str | os.PathLike[str] | None = None
) -> Scenario:
    """Check scenario text; `origin` names it in messages, `base_dir` anchors relative paths (default: cwd)."""
    try:
        data = inputs.parse_toml(text.removeprefix("\ufeff"), origin)
    except inputs.InputFileError as exc:
        raise ScenarioError([Problem(origin, "", exc.message, exc.line, exc.column)]) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if match := TOML_POSITION.match(message):
            line, col = int(match["line"]), int(match["col"])
            problem = Problem(origin, "", f"invalid TOML: {match['msg']}", line, col)
        else:
            lines = text.count("\n") + 1
            problem = Problem(
                origin, "", f"invalid TOML: {message}", lines, len(text.rsplit("\n", 1)[-1]) + 1
            )
        raise ScenarioError([problem]) from None
    return scenario_from_dict(data, origin, base_dir=base_dir)


def scenario_from_dict(
    data: Mapping[str, Any], origin: str = "<scenario>", *, base_dir: str | os.PathLike[str] | None = None
) -> Scenario:
    """Check a scenario given as the dict TOML would parse to (the Hypothesis strategies' entry point)."""
    if not isinstance(data, Mapping):
        raise ScenarioError([Problem(origin, "", f"expected a table of sections, got {describe(data)}")])
    return _Loader(origin, Path(base_dir) if base_dir is not None else Path.cwd()).load(data)


class _Loader(FaultReader):
    """The whole file, section by section; each section's reader lives in its own module."""

    def load(self, data: Mapping[str, Any]) -> Scenario:
        root = Table(self.problems, data, "")
        info = self.scenario(root.table("scenario", required=True))
        saas = self.saas(root.table("saas"))
        several = "workspaces" in data
        if several:  # the [[workspaces]] form: each workspace with its people, policy and workloads
            callbacks = self.callbacks(root.table("callbacks"))
            tenancy = self.several_workspaces(root, root.tables("workspaces", what="[[workspaces]] tables"))
            workspace, policy, parts = tenancy.workspace, tenancy.policy, tenancy.parts
            users, api_users, groups = tenancy.users, tenancy.api_users, tenancy.groups
            self.check_ids()
        else:
            parts = ()
            workspace = self.workspace(root.table("workspace", required=True))
            callbacks = self.callbacks(root.table("callbacks"))
            users = self.users(root.tables("users", what="an array of tables ([[users]])"))
            api_users = self.api_users(root.tables("api_users", what="an array of tables ([[api_users]])"))
            groups = self.groups(root.tables("groups", what="an array of tables ([[groups]])"))
            self.check_ids()
        node_tables = root.tables("nodes", what="an array of tables ([[nodes]])")
        if not data.get("nodes"):
            self.problems.add("nodes", "required: at least one [[nodes]] table")
        nodes = self.nodes(node_tables)
        if several:
            nodes = self.check_workspace_topology(node_tables, nodes)
            workloads = tenancy.workloads
        else:
            policy = None
            if (policy_table := root.table("policy")) is not None:
                policy = self.policy_spec(policy_table, workspace=True)
                policy_table.finish(("rules", "fireblocks_json", "amount_match"))
            workloads = self.workloads(root.tables("workload", what="an array of tables ([[workload]])"))
        faults = self.faults(root.tables("faults", what="an array of tables ([[faults]])"))
        expect = self.expect(root.table("expect"))
        root.finish(SECTIONS)
        if self.problems.items or info is None or workspace is None or saas is None or expect is None:
            raise ScenarioError(self.problems.items)
        return Scenario(
            scenario=info,
            saas=saas,
            workspace=workspace,
            users=tuple(users),
            api_users=tuple(api_users),
            groups=tuple(groups),
            nodes=tuple(nodes),
            callbacks=tuple(callbacks),
            policy=policy,
            workloads=tuple(workloads),
            faults=tuple(faults),
            expect=expect,
            workspaces=parts,
            origin=self.problems.origin,
        )

    # -- helpers ---------------------------------------------------------------------------------------

    # -- sections --------------------------------------------------------------------------------------

    def scenario(self, t: Table | None) -> ScenarioInfo | None:
        if t is None:
            return None
        mark = self.mark()
        version = t.get("version", integer(), VERSION)
        if version is not None and version != VERSION:
            t.error(
                "version",
                f"expected {VERSION} (this cosigner-ha reads scenario files of version {VERSION}), got {version}",
            )
        name = t.require("name", NAME)
        seed = t.require("seed", integer(0, SEED_MAX))
        self.duration = duration = t.require("duration", POSITIVE_DURATION)
        description = t.get("description", STRING, "")
        t.finish()
        if (
            not self.clean_since(mark)
            or name is None
            or seed is None
            or duration is None
            or description is None
        ):
            return None
        return ScenarioInfo(name=name, seed=seed, duration=duration, description=description)

    def saas(self, t: Table | None) -> SaasSettings | None:
        if t is None:
            return SaasSettings()
        mark = self.mark()
        d = SaasSettings()
        values = {
            "probe_window": t.get("probe_window", POSITIVE_DURATION, d.probe_window),
            "selection": t.get("selection", choice(Selection), d.selection),
            "long_poll_interval": t.get("long_poll_interval", POSITIVE_DURATION, d.long_poll_interval),
            "offline_after": t.get("offline_after", POSITIVE_DURATION, d.offline_after),
            "callback_deadline": t.get("callback_deadline", POSITIVE_DURATION, d.callback_deadline),
            "callback_failure": t.get("callback_failure", choice(CallbackFailurePolicy), d.callback_failure),
            "callback_retry_attempts": t.get(
                "callback_retry_attempts", integer(0), d.callback_retry_attempts
            ),
            "callback_retry_interval": t.get(
                "callback_retry_interval", POSITIVE_DURATION, d.callback_retry_interval
            ),
            "pairing_token_validity": t.get(
                "pairing_token_validity", POSITIVE_DURATION, d.pairing_token_validity
            ),
            "authorization_timeout": t.get(
                "authorization_timeout", POSITIVE_DURATION, d.authorization_timeout
            ),
            "signing_timeout": t.get("signing_timeout", POSITIVE_DURATION, d.signing_timeout),
            "owner_approval_latency": t.get("owner_approval_latency", DURATION, d.owner_approval_latency),
            "admin_approval_latency": t.get("admin_approval_latency", DURATION, d.admin_approval_latency),
            "cloud_signing_sessions": t.get("cloud_signing_sessions", integer(1, 10_000), None),
            "cloud_signing_round_time": t.get("cloud_signing_round_time", DURATION, None),
        }
        t.finish()
        self.token_validity = values["pairing_token_validity"]  # type: ignore[assignment]
        if not self.clean_since(mark):
            return None
        return SaasSettings(**values)  # type: ignore[arg-type]  # all present once clean
