"""A private-key file a runtime command cannot use is refused with exit 2 naming the file and the fault."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cosigner_ha.cli import main
from cosigner_ha.node.rsa_keys import load_private_key_pem


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def test_load_private_key_pem_names_what_it_read_for_each_fault() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert load_private_key_pem(_pem(key)).private_numbers() == key.private_numbers()
    with pytest.raises(ValueError, match=r"^k\.pem is not an unencrypted PEM private key"):
        load_private_key_pem(b"not a key", what="k.pem")
    with pytest.raises(ValueError, match=r"^k\.pem is not an unencrypted PEM private key"):
        load_private_key_pem(_pem(key, b"secret"), what="k.pem")
    with pytest.raises(ValueError, match=r"^k\.pem is a \w+, expected an RSA private key"):
        load_private_key_pem(_pem(ec.generate_private_key(ec.SECP256R1())), what="k.pem")


@pytest.mark.parametrize(
    "argv",
    [
        ["callback", "serve", "--bind", "127.0.0.1:0", "--jwt-key", "{key}"],
        ["callback", "check", "http://127.0.0.1:9", "--cosigner-key", "{key}"],
    ],
    ids=["serve --jwt-key", "check --cosigner-key"],
)
def test_a_key_file_that_is_not_a_pem_key_exits_2_naming_the_file(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    assert main([a.format(key=bad) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(bad) in err and "not an unencrypted PEM private key" in err, err
    assert "Traceback" not in err
