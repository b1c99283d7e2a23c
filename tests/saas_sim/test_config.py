"""Configuration and workspace creation refuse bad input whole, and keep nothing."""

from __future__ import annotations

import math

import pytest

from cosigner_ha.env import Environment, simulate
from cosigner_ha.net import LinkSpec, SimNetwork
from cosigner_ha.saas_sim import Saas, SaasConfig, SaasError

from .harness import SPEC


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"probe_window": 0}, "saas.probe_window: expected a positive duration in seconds, got 0"),
        ({"signing_timeout": -5.0}, "saas.signing_timeout: expected a positive duration"),
        ({"attempt_timeout": math.inf}, "saas.attempt_timeout: expected a positive duration"),
        ({"long_poll_interval": True}, "saas.long_poll_interval: expected a positive duration"),
        (
            {"selection": "random"},
            "saas.selection: expected one of first-responder, listed-order, got 'random'",
        ),
        ({"callback_failure": "retry"}, "saas.callback_failure: expected 'fail' or 'next-node'"),
        ({"listed_order": ["a"]}, "saas.listed_order: expected a tuple of co-signer ids"),
    ],
)
def test_bad_configuration_is_refused_naming_the_key(change: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        SaasConfig(**change)  # type: ignore[arg-type]


def test_config_accepts_integer_seconds() -> None:
    assert SaasConfig(probe_window=2, long_poll_interval=10).probe_window == 2


def test_a_refused_workspace_leaves_nothing_behind() -> None:
    async def main(env: Environment) -> None:
        net = SimNetwork(env.rng("net"), default_link=LinkSpec())
        saas = Saas(env.child("saas"), network=net.host("saas"))
        bad = {**SPEC, "api_users": [{"name": "x" * 31, "role": "SIGNER"}]}
        with pytest.raises(SaasError, match=r"workspace.api_users\[0\].name: .* at most 30"):
            saas.create_workspace(bad)
        assert saas.ctx.workspaces == {} and env.trace.of_kind("workspace_created") == []
        assert not any(cloud.holds_workspace(w) for cloud in saas.ctx.clouds for w in ("acme",))
        saas.create_workspace(SPEC)
        with pytest.raises(SaasError, match="a workspace named 'acme' exists already"):
            saas.create_workspace(SPEC)
        assert len(saas.ctx.workspaces) == 1
        # a submission outside a running SaaS is refused before anything is recorded
        with pytest.raises(RuntimeError, match="the SaaS is not running"):
            saas.submit(
                "acme", initiator="ops", asset="ETH", amount=1, source="vault:hot", destination="wallet:cold"
            )
        assert saas.transactions == []

    simulate(main, seed=71)
