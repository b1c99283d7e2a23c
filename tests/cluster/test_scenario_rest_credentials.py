"""A scenario's REST credentials (`api_key` with `public_key`, a PEM key or CSR beside the file) and
opening balances (`[workspace] balances`): loaded, and every bad value refused naming the key path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cosigner_ha.cluster.scenario import ScenarioError, load_scenario, scenario_from_dict
from cosigner_ha.cluster.scenario.dump import content_hash, to_toml

REST = Path(__file__).resolve().parents[1] / "saas_sim" / "rest" / "local.toml"


def base() -> dict[str, Any]:
    return tomllib.loads(REST.read_text())


def _key(tmp_path: Path, name: str = "ops.pem", csr: bool = False) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if csr:
        request = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ops")]))
            .sign(key, hashes.SHA256())
        )
        data = request.public_bytes(serialization.Encoding.PEM)
    else:
        data = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    (tmp_path / name).write_bytes(data)
    return key


def problems(data: dict[str, Any], tmp_path: Path) -> str:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data, "s.toml", base_dir=tmp_path)
    return str(caught.value)


@pytest.mark.parametrize("csr", [False, True])
def test_a_public_key_or_csr_beside_the_file_loads(tmp_path: Path, csr: bool) -> None:
    written = "keys/ops.csr" if csr else "ops.pem"
    (tmp_path / "keys").mkdir()
    key = _key(tmp_path, written, csr)
    data = base()
    data["api_users"][0] |= {"api_key": "key-ops", "public_key": written}
    scenario = scenario_from_dict(data, "s.toml", base_dir=tmp_path)
    ops = scenario.api_users[0]
    assert ops.api_key == "key-ops" and ops.public_key is not None
    assert serialization.load_pem_public_key(ops.public_key.pem.encode()).public_numbers() == (
        key.public_key().public_numbers()
    )
    # the dump names the file, the hash covers the key's content wherever the file sits
    assert str(ops.public_key.path) in to_toml(scenario)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "k.pem").write_bytes(ops.public_key.path.read_bytes())
    data["api_users"][0]["public_key"] = "elsewhere/k.pem"
    moved = scenario_from_dict(data, "s.toml", base_dir=tmp_path)
    assert content_hash(moved) == content_hash(scenario)


def test_scenarios_without_credentials_keep_their_hash() -> None:
    scenario = load_scenario(REST)
    assert all(u.api_key is None and u.public_key is None for u in scenario.api_users)
    assert "api_key" not in to_toml(scenario)


@pytest.mark.parametrize(
    ("fields", "files", "expected"),
    [
        ({"api_key": "k"}, {}, ("api_users[0].public_key", "required with api_key")),
        ({"public_key": "ops.pem"}, {"ops.pem": "rsa"}, ("api_users[0].api_key", "required with public_key")),
        (
            {"api_key": "k", "public_key": "missing.pem"},
            {},
            ("api_users[0].public_key", "cannot read 'missing.pem'"),
        ),
        (
            {"api_key": "k", "public_key": "junk.pem"},
            {"junk.pem": "junk"},
            ("api_users[0].public_key", "no PEM"),
        ),
        (
            {"api_key": "k", "public_key": "ec.pem"},
            {"ec.pem": "ec"},
            ("api_users[0].public_key", "expected an RSA"),
        ),
        ({"api_key": "", "public_key": "ops.pem"}, {"ops.pem": "rsa"}, ("api_users[0].api_key", "non-empty")),
    ],
)
def test_bad_credentials_are_refused_naming_the_key(
    tmp_path: Path, fields: dict[str, Any], files: dict[str, str], expected: tuple[str, str]
) -> None:
    for name, kind in files.items():
        if kind == "rsa":
            _key(tmp_path, name)
        elif kind == "ec":
            public = ec.generate_private_key(ec.SECP256R1()).public_key()
            pem = public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            (tmp_path / name).write_bytes(pem)
        else:
            (tmp_path / name).write_text("not a key")
    data = base()
    data["api_users"][0] |= fields
    message = problems(data, tmp_path)
    path, words = expected
    assert path in message and words in message, message


def test_an_api_key_is_unique(tmp_path: Path) -> None:
    _key(tmp_path, "a.pem")
    _key(tmp_path, "b.pem")
    data = base()
    data["api_users"][0] |= {"api_key": "same", "public_key": "a.pem"}
    data["api_users"][1] |= {"api_key": "same", "public_key": "b.pem"}
    message = problems(data, tmp_path)
    assert "api_users[1].api_key" in message and "already the api_key of api_users[0]" in message


def test_balances_load_and_bad_ones_are_refused(tmp_path: Path) -> None:
    scenario = load_scenario(REST)
    assert dict(scenario.workspace.balances["hot"]) == {"ETH": 100.0}
    assert "balances" in to_toml(scenario)
    for balances, where, words in [
        ({"cold": {"ETH": 1}}, "workspace.balances.cold", "no vault 'cold'"),
        ({"hot": {"DOGE": 1}}, "workspace.balances.hot.DOGE", "no asset 'DOGE'"),
        ({"hot": {"ETH": -1}}, "workspace.balances.hot.ETH", "at least 0"),
        ({"hot": {"ETH": "lots"}}, "workspace.balances.hot.ETH", "a number"),
        ({"hot": 5}, "workspace.balances.hot", "expected a table"),
    ]:
        data = base()
        data["workspace"]["balances"] = balances
        message = problems(data, tmp_path)
        assert where in message and words in message, message
