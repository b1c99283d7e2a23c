"""A customer's callback handler as written for production: FastAPI on asyncio, aiofiles for its files.

Its lifespan loads its RSA private key (it signs its answers with it) and writes `events.log`; every
request reads the co-signers' public keys from `cosigner-keys/` (what `print-public-key` shows) to check
the request JWT, then answers a JWT: REJECT above `LIMIT` ETH, APPROVE otherwise. Files sit beside this
module, as a deployed handler's sit beside it. Nothing here knows about the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiofiles
import aiofiles.os
import jwt
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

HERE = Path(__file__).parent
LIMIT = Decimal("5")


async def log(line: str) -> None:
    async with aiofiles.open(HERE / "events.log", "a") as f:
        await f.write(line + "\n")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    asyncio.get_running_loop()  # asyncio only: this raises under trio
    async with aiofiles.open(HERE / "handler_private.pem") as f:
        app.state.private_key = await f.read()
    await log("startup")
    yield
    await log("shutdown")


app = FastAPI(lifespan=lifespan)


async def cosigner_keys() -> list[str]:
    folder = HERE / "cosigner-keys"
    keys = []
    for name in sorted(await aiofiles.os.listdir(folder)):
        async with aiofiles.open(folder / name) as f:
            keys.append(await f.read())
    return keys


async def verified(token: str) -> dict[str, object]:
    for key in await cosigner_keys():
        with contextlib.suppress(jwt.InvalidSignatureError):
            claims: dict[str, object] = jwt.decode(token, key, algorithms=["RS256"])
            return claims
    raise jwt.InvalidSignatureError("signed by no known co-signer")


@app.post("/v2/tx_sign_request")
async def tx_sign_request(request: Request) -> PlainTextResponse:
    body = await verified((await request.body()).decode())
    await asyncio.sleep(0)
    amount = Decimal(str(body["amountStr"]))
    action = "REJECT" if amount > LIMIT else "APPROVE"
    await log(f"{action} {body['txId']} request={body['requestId']} signer={body['signerId']}")
    answer = {"action": action, "requestId": body["requestId"]}
    if action == "REJECT":
        answer["rejectionReason"] = f"above {LIMIT} ETH"
    return PlainTextResponse(jwt.encode(answer, request.app.state.private_key, algorithm="RS256"))


@app.post("/v2/config_change_sign_request")
async def config_change(request: Request) -> PlainTextResponse:
    body = await verified((await request.body()).decode())
    answer = {"action": "APPROVE", "requestId": body["requestId"]}
    return PlainTextResponse(jwt.encode(answer, request.app.state.private_key, algorithm="RS256"))
