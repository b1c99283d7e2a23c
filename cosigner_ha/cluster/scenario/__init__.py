"""Scenario files (version 1, TOML): the typed model, the loader that refuses bad files, and the writer.

    scenario = load_scenario("scenarios/active-active-passive.toml")
    scenario.nodes_under("aws/us-east-1")      # topology helpers
    scenario.content_hash()                    # for the trace header
    scenario.to_toml()                         # back to a file that loads to an equal model

The format is documented key by key in docs/scenarios.md.
"""

from cosigner_ha.cluster.scenario.dump import content_hash, scenario_to_dict, to_toml, write_scenario
from cosigner_ha.cluster.scenario.durations import (
    DurationError,
    Rate,
    format_duration,
    format_rate,
    parse_duration,
    parse_rate,
)
from cosigner_ha.cluster.scenario.errors import Problem, ScenarioError
from cosigner_ha.cluster.scenario.frozen import FrozenDict
from cosigner_ha.cluster.scenario.loader import load_scenario, load_scenario_text, scenario_from_dict
from cosigner_ha.cluster.scenario.model import (
    SIGNING_ROLES,
    AddressType,
    ApiUser,
    ApiUserRole,
    AsgiCallback,
    Callback,
    CallbackAction,
    CallbackFailurePolicy,
    CallbackFaultMode,
    Enclave,
    Expect,
    ExpectWindow,
    Fault,
    FaultAction,
    FireblocksPolicy,
    Group,
    InlinePolicy,
    Node,
    Operation,
    PolicySpec,
    PythonCallback,
    SaasSettings,
    Scenario,
    ScenarioInfo,
    ScriptedCallback,
    Selection,
    UrlCallback,
    User,
    UserRole,
    Workload,
    Workspace,
    WorkspaceEnv,
    site_is_under,
)

__all__ = [
    "SIGNING_ROLES",
    "AddressType",
    "ApiUser",
    "ApiUserRole",
    "AsgiCallback",
    "Callback",
    "CallbackAction",
    "CallbackFailurePolicy",
    "CallbackFaultMode",
    "DurationError",
    "Enclave",
    "Expect",
    "ExpectWindow",
    "Fault",
    "FaultAction",
    "FireblocksPolicy",
    "FrozenDict",
    "Group",
    "InlinePolicy",
    "Node",
    "Operation",
    "PolicySpec",
    "Problem",
    "PythonCallback",
    "Rate",
    "SaasSettings",
    "Scenario",
    "ScenarioError",
    "ScenarioInfo",
    "ScriptedCallback",
    "Selection",
    "UrlCallback",
    "User",
    "UserRole",
    "Workload",
    "Workspace",
    "WorkspaceEnv",
    "content_hash",
    "format_duration",
    "format_rate",
    "load_scenario",
    "load_scenario_text",
    "parse_duration",
    "parse_rate",
    "scenario_from_dict",
    "scenario_to_dict",
    "site_is_under",
    "to_toml",
    "write_scenario",
]
