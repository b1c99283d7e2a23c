"""A customer's FastAPI handler, unmodified, serving a simulated cluster in process (issue 17 item 7).

The handler (tests/cluster/handlers/fastapi_handler.py) is what a user deploys: FastAPI on asyncio, its
lifespan loads its private key with aiofiles, each request reads the co-signers' public keys with
aiofiles and checks the request JWT, and it answers a JWT signed with its own key, which the nodes
verify with the `public_key` file the scenario names. The scenario imports it from `path`.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.cluster.live import LiveCluster
from cosigner_ha.cluster.scenario import scenario_from_dict
from tests.cluster.runs import scenario_dict

HANDLER = Path(__file__).parent / "handlers" / "fastapi_handler.py"


def deploy(folder: Path) -> str:
    """The handler's folder as a user lays it out: the module, its key pair, the co-signers' keys."""
    module = f"risk_handler_{uuid.uuid4().hex[:8]}"  # a fresh module per test: imports are cached
    shutil.copy(HANDLER, folder / f"{module}.py")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / "handler_private.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (folder / "handler_public.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (folder / "cosigner-keys").mkdir()
    return module


def scenario(folder: Path, module: str) -> Any:
    data = scenario_dict(
        callback={"asgi": f"{module}:app", "path": ".", "public_key": "handler_public.pem", "latency": "1s"}
    )
    data["workload"] = []
    return scenario_from_dict(data, base_dir=folder)


def test_a_fastapi_aiofiles_handler_serves_a_cluster_in_process_with_jwts_both_ways(tmp_path: Path) -> None:
    module = deploy(tmp_path)
    with LiveCluster(scenario(tmp_path, module)) as cluster:
        assert (tmp_path / "events.log").read_text() == "startup\n"  # the lifespan ran before any request
        for name, runtime in cluster.world.nodes.items():  # what `print-public-key` shows, per node
            (tmp_path / "cosigner-keys" / f"{name}-cosigner-public.pem").write_text(
                runtime.node.callback_public_key
            )
        small = cluster.submit(
            initiator="ops", asset="ETH", amount=2, source="vault:hot", destination="wallet:out"
        )
        large = cluster.submit(
            initiator="ops", asset="ETH", amount=9, source="vault:hot", destination="wallet:out"
        )
        cluster.advance(300)
        world = cluster.world
        result = cluster.finish()
    status = {tx.id: tx.status.value for tx in world.saas.transactions}
    assert small is not None and large is not None
    assert status[small] == "COMPLETED"
    assert status[large] != "COMPLETED"
    answers = {e.fields["tx"]: e.fields for e in result.events if e.kind == "callback_response"}
    assert answers[small]["action"] == "APPROVE" and answers[small]["latency"] == 1.0
    assert answers[large]["action"] == "REJECT" and answers[large]["reason"] == "above 5 ETH"
    log = (tmp_path / "events.log").read_text().splitlines()
    assert log[0] == "startup" and log[-1] == "shutdown"  # and the shutdown after the last request
    assert any(line.startswith(f"APPROVE {small} request=") for line in log)
    assert any(line.startswith(f"REJECT {large} request=") for line in log)
    assert not [e for e in result.events if e.kind == "callback_error"]
