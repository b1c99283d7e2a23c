"""`cosigner-ha callback serve`: the reference handler's own command, outside the node."""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
import httpx
import pytest

from cosigner_ha.callback_handler.cli import serve_callback
from cosigner_ha.cli import build_parser, main


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["callback", "serve", *argv])


def test_callback_serve_answers_a_request_with_its_rule_over_a_real_socket() -> None:
    answers: list[dict[str, object]] = []

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:

            async def started(urls: list[str]) -> None:
                async with httpx.AsyncClient() as client:
                    reply = await client.post(f"{urls[0]}/tx_sign_request", json={"requestId": "tx-1"})
                answers.append(reply.json())
                tasks.cancel_scope.cancel()

            await serve_callback(_args("--bind", "127.0.0.1:0", "--action", "REJECT"), started=started)

    anyio.run(scenario, backend="trio")
    assert answers and answers[0]["action"] == "REJECT"


def test_callback_serve_with_a_key_file_that_is_not_a_key_exits_2_and_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    assert main(["callback", "serve", "--bind", "127.0.0.1:0", "--jwt-key", str(bad)]) == 2
    assert f"error: {bad}: not a PEM private key" in capsys.readouterr().err
