"""Topology helpers: site paths, failure domains, who serves whom, the standby set."""

from __future__ import annotations

import pytest

from cosigner_ha.cluster.scenario import load_scenario_text, site_is_under
from tests.cluster.test_scenario_loader import EXAMPLE

SCENARIO = load_scenario_text(EXAMPLE)


def test_site_path_components() -> None:
    node = SCENARIO.node("nitro-a")
    assert node.site_parts == ("aws", "us-east-1", "a")
    assert (node.provider, node.region, node.zone) == ("aws", "us-east-1", "a")
    onprem = SCENARIO.node("sgx-dc1")
    assert (onprem.provider, onprem.region, onprem.zone) == ("onprem", "dc1", None)


@pytest.mark.parametrize(
    ("prefix", "names"),
    [
        ("aws", ("nitro-a", "nitro-b")),
        ("aws/us-east-1", ("nitro-a", "nitro-b")),
        ("aws/us-east-1/b", ("nitro-b",)),
        ("aws/us-east", ()),  # prefixes match whole components, not characters
        ("onprem", ("sgx-dc1",)),
        ("gcp", ()),
    ],
)
def test_nodes_under_a_site_prefix(prefix: str, names: tuple[str, ...]) -> None:
    assert tuple(n.name for n in SCENARIO.nodes_under(prefix)) == names


def test_site_is_under_compares_components() -> None:
    assert site_is_under("aws/us-east-1/a", "aws/us-east-1")
    assert not site_is_under("aws/us-east-10/a", "aws/us-east-1")
    assert not site_is_under("aws", "aws/us-east-1")


def test_who_serves_whom() -> None:
    assert dict(SCENARIO.api_users_by_node()) == {
        "nitro-a": ("signer-a",),
        "nitro-b": ("signer-b",),
        "sgx-dc1": ("signer-c",),
    }
    assert dict(SCENARIO.nodes_by_api_user()) == {
        "ops": (),
        "signer-a": ("nitro-a",),
        "signer-b": ("nitro-b",),
        "signer-c": ("sgx-dc1",),
    }


def test_standby_and_active_sets_keep_file_order() -> None:
    assert SCENARIO.standby_nodes() == ("sgx-dc1",)
    assert SCENARIO.active_nodes() == ("nitro-a", "nitro-b")


def test_failure_domains_by_depth() -> None:
    assert SCENARIO.site_prefixes(1) == ("aws", "onprem")
    assert SCENARIO.site_prefixes(2) == ("aws/us-east-1", "onprem/dc1")
    assert SCENARIO.site_prefixes(3) == ("aws/us-east-1/a", "aws/us-east-1/b", "onprem/dc1")
    with pytest.raises(ValueError, match="from 1"):
        SCENARIO.site_prefixes(0)


def test_lookups_name_the_scenario_on_a_miss() -> None:
    with pytest.raises(KeyError, match="no node named 'nope'"):
        SCENARIO.node("nope")
    with pytest.raises(KeyError, match="no API user named"):
        SCENARIO.api_user("nope")
    with pytest.raises(KeyError, match="no callback named"):
        SCENARIO.callback("nope")
