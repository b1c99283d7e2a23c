"""A protocol-level SaaS for node tests: wire protocol v1 over the simulated network, real FROST.

It is small on purpose but honest where the node is concerned: HS256 pairing tokens that expire and are
single use, an owner who approves (or refuses) after a latency, resharing of a workspace key to the
node's share set with contributions sealed to its transport key, refresh and access tokens, the SGX
attestation service, a mailbox per co-signer handed out as the answer to a held poll, and a signing
driver that probes, dispatches, relays the FROST rounds with two in-process cloud co-signers, and
aggregates and verifies the signature. Tests reach into it to inject protocol misbehaviour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha import mpc, wire
from cosigner_ha.env import Environment
from cosigner_ha.net import ConnectionClosed, FramedStream, Network
from cosigner_ha.wire.sealing import seal as seal_to

NEW_SET = [1, 2, 3]


@dataclasses.dataclass
class Workspace:
    id: str
    key: dict[int, mpc.KeyPackage]
    public: mpc.PublicKeyPackage
    #: API user -> (cloud key packages 2 and 3, public package) once paired
    users: dict[str, tuple[dict[int, mpc.KeyPackage], mpc.PublicKeyPackage]] = dataclasses.field(
        default_factory=dict
    )


@dataclasses.dataclass
class PairRequest:
    id: str
    workspace: str
    api_user: str
    cosigner: str
    transport_key: bytes
    config_key: bytes
    status: str = "WAITING_FOR_APPROVAL"
    done: wire.PairCompleted | None = None
    changed: anyio.Event = dataclasses.field(default_factory=anyio.Event)


@dataclasses.dataclass
class Outcome:
    status: str  # COMPLETED | REJECTED | FAILED | NO_SIGNER | TIMEOUT
    detail: str = ""
    signature: bytes = b""
    node: str = ""


class SaasDouble:
    def __init__(
        self,
        env: Environment,
        network: Network,
        *,
        address: str = "saas:443",
        vendor_key: bytes = b"",
        measurements: tuple[bytes, ...] = (),
        approval_latency: float = 5.0,
        long_poll: float = 30.0,
        access_ttl: float = 600.0,
        probe_window: float = 3.0,
        attempt_timeout: float = 75.0,
    ) -> None:
        self.env = env
        self.network = network
        self.address = address
        self.vendor_key = vendor_key
        self.measurements = list(measurements)
        self.approval_latency = approval_latency
        self.long_poll = long_poll
        self.access_ttl = access_ttl
        self.probe_window = probe_window
        self.attempt_timeout = attempt_timeout
        self._secret = env.randbytes(32)
        self.workspaces: dict[str, Workspace] = {}
        self.requests: dict[str, PairRequest] = {}
        self.used_tokens: set[str] = set()
        self.refresh: dict[str, tuple[str, str]] = {}  # refresh token -> (cosigner, api user)
        self.revoked: set[str] = set()
        self.mailboxes: dict[str, list[wire.WorkItem]] = {}
        self._mail_events: dict[str, anyio.Event] = {}
        self.inbox: list[wire.Request] = []
        self._inbox_changed = anyio.Event()
        self.refuse_pairing = False
        self.attestation_refused: str | None = None
        self.db_keys: dict[str, bytes] = {}
        self.config_keys: dict[str, bytes] = {}
        self.signed: list[tuple[str, bytes]] = []
        self.tamper_package: Callable[[mpc.SigningPackage], mpc.SigningPackage] | None = None
        self.before_round2: Callable[[], Awaitable[None]] | None = None
        #: The driver's answer to an approving `CallbackResult` (round two, protocol v2), per session.
        self._approvals: dict[str, tuple[anyio.Event, list[wire.Response]]] = {}
        self.polls = 0
        self.management = 0

    # --- set-up ---------------------------------------------------------------------------------------------

    def workspace(self, ws: str) -> Workspace:
        if ws not in self.workspaces:
            keys, public = mpc.trusted_dealer_keygen(3, [1, 2, 3], self.env.randbytes)
            self.workspaces[ws] = Workspace(ws, keys, public)
        return self.workspaces[ws]

    def pairing_token(self, api_user: str, *, ws: str = "ws-1", ttl: float = 3600.0) -> str:
        self.workspace(ws)
        now = self.env.clock.wall()
        claims = {
            "typ": "pairing",
            "ws": ws,
            "sub": api_user,
            "jti": self.env.ids.uuid(),
            "iat": int(now),
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _verify(self, token: str, typ: str) -> dict[str, Any] | wire.Error:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
            )
        except jwt.PyJWTError as exc:
            return wire.Error("TOKEN_FORGED", f"the {typ} token does not verify: {exc}")
        if claims.get("typ") != typ:
            return wire.Error("TOKEN_FOREIGN", f"a {claims.get('typ')} token where a {typ} token is needed")
        if "exp" in claims and self.env.clock.wall() >= claims["exp"]:
            return wire.Error("TOKEN_EXPIRED", f"the {typ} token expired")
        if claims["jti"] in self.revoked:
            return wire.Error("TOKEN_REVOKED", f"the {typ} token was revoked")
        return dict(claims)

    # --- serving --------------------------------------------------------------------------------------------

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await self.network.listen(self.address)
        self.address = listener.address
        async with listener, anyio.create_task_group() as tasks:
            task_status.started()
            while True:
                stream = await listener.accept()
                tasks.start_soon(self._connection, stream)

    async def _connection(self, stream: FramedStream) -> None:
        try:
            while True:
                request = wire.decode(await stream.receive())
                assert isinstance(request, wire.Request)
                self.inbox.append(request)
                self._inbox_changed.set()
                self._inbox_changed = anyio.Event()
                response = await self._handle(request)
                try:
                    await stream.send(wire.encode(response))
                except ConnectionClosed:
                    if isinstance(response, wire.PollResult) and isinstance(request, wire.Poll):
                        self.mailboxes[request.cosigner_id][:0] = response.items  # undelivered: keep them
                        event = self._mail_events.pop(request.cosigner_id, None)
                        if event is not None:
                            event.set()
                    raise
                if isinstance(response, wire.Error) and response.code.startswith("TOKEN"):
                    await stream.aclose()
                    return
        except ConnectionClosed:
            return

    async def next_request(self, kind: type[wire.Request], timeout: float = 120.0) -> Any:
        """Wait for the next request of a kind (after the ones already seen)."""
        seen = len(self.inbox)
        with anyio.fail_after(timeout):
            while True:
                for msg in self.inbox[seen:]:
                    if isinstance(msg, kind):
                        return msg
                seen = len(self.inbox)
                await self._inbox_changed.wait()

    async def _handle(self, request: wire.Request) -> wire.Response:
        if isinstance(request, wire.Pair):
            return self._pair(request)
        if isinstance(request, wire.PairStatus):
            return await self._pair_status(request)
        if isinstance(request, wire.RefreshAccess):
            return self._refresh(request)
        if isinstance(request, wire.AttestationQuote):
            return self._attest(request)
        token = getattr(request, "access_token", None)
        claims = self._verify(token or "", "access")
        if isinstance(claims, wire.Error):
            return claims
        if isinstance(request, wire.Poll):
            self.polls += 1
            return wire.PollResult(await self._take(request.cosigner_id))
        if isinstance(request, wire.CallbackResult) and request.action == "APPROVE":
            event, answer = self._approvals.setdefault(request.session_id, (anyio.Event(), []))
            await event.wait()
            return answer[0]
        if isinstance(request, wire.ManagementRequest):
            self.management += 1
            return wire.RequestAccepted(f"mgmt-{self.management}", "WAITING_FOR_APPROVAL")
        return wire.Ack()

    def _pair(self, msg: wire.Pair) -> wire.Response:
        claims = self._verify(msg.pairing_token, "pairing")
        if isinstance(claims, wire.Error):
            return claims
        if claims["jti"] in self.used_tokens:
            return wire.Error("TOKEN_REPLAYED", "the pairing token was already used")
        self.used_tokens.add(claims["jti"])
        req = PairRequest(
            f"pair-{len(self.requests) + 1}",
            claims["ws"],
            claims["sub"],
            msg.cosigner_id,
            msg.transport_key,
            msg.config_key,
        )
        self.requests[req.id] = req
        self.config_keys[req.api_user] = msg.config_key
        self._spawn(self._owner_decides, req)
        return wire.PairPending(req.id, req.status)

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        assert self._tasks is not None
        self._tasks.start_soon(fn, *args)

    _tasks: anyio.abc.TaskGroup | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            await tasks.start(self.serve)
            task_status.started()

    async def _owner_decides(self, req: PairRequest) -> None:
        await self.env.clock.sleep(self.approval_latency)
        if self.refuse_pairing:
            req.status = "REJECTED"
        else:
            ws = self.workspace(req.workspace)
            dealt = {
                i: mpc.reshare_contribute(ws.key[i], [1, 2, 3], NEW_SET, 3, self.env.randbytes)
                for i in (1, 2, 3)
            }
            commitments = {i: c for i, (c, _) in dealt.items()}
            new = {
                j: mpc.reshare_combine(
                    j, NEW_SET, 3, ws.public, commitments, {i: dealt[i][1][j] for i in (1, 2, 3)}
                )
                for j in (2, 3)
            }
            public = new[2][1]
            ws.users[req.api_user] = ({j: new[j][0] for j in (2, 3)}, public)
            contributions = [
                seal_to(
                    req.transport_key,
                    wire.encode(
                        wire.ShareContribution(
                            sender=i,
                            receiver=1,
                            new_identifiers=NEW_SET,
                            new_threshold=3,
                            commitment=list(commitments[i].commitment),
                            share=dealt[i][1][1].to_dict()["value"],
                            old_public_package=ws.public.to_bytes(),
                        )
                    ),
                    self.env.randbytes,
                )
                for i in (1, 2, 3)
            ]
            refresh = jwt.encode(
                {"typ": "refresh", "jti": self.env.ids.uuid(), "sub": req.api_user, "cos": req.cosigner},
                self._secret,
                algorithm="HS256",
            )
            self.refresh[refresh] = (req.cosigner, req.api_user)
            req.done = wire.PairCompleted(
                req.id, req.workspace, req.api_user, refresh, 1, contributions, public.to_bytes()
            )
            req.status = "COMPLETED"
        req.changed.set()

    async def _pair_status(self, msg: wire.PairStatus) -> wire.Response:
        req = self.requests.get(msg.request_id)
        if req is None:
            return wire.Error("NOT_FOUND", f"no pairing request {msg.request_id}")
        with anyio.move_on_after(self.long_poll):
            await req.changed.wait()
        if req.status == "COMPLETED" and req.done is not None:
            return req.done
        if req.status == "REJECTED":
            return wire.Error("PAIRING_REJECTED", "the workspace owner refused the pairing")
        return wire.PairPending(req.id, req.status)

    def _refresh(self, msg: wire.RefreshAccess) -> wire.Response:
        claims = self._verify(msg.refresh_token, "refresh")
        if isinstance(claims, wire.Error):
            return claims
        now = self.env.clock.wall()
        access = jwt.encode(
            {
                "typ": "access",
                "jti": self.env.ids.uuid(),
                "sub": msg.cosigner_id,
                "exp": now + self.access_ttl,
            },
            self._secret,
            algorithm="HS256",
        )
        return wire.TokenGrant(access, now + self.access_ttl)

    def unpair(self, api_user: str) -> None:
        for token, (_, user) in self.refresh.items():
            if user == api_user:
                self.revoked.add(jwt.decode(token, options={"verify_signature": False})["jti"])

    def _attest(self, msg: wire.AttestationQuote) -> wire.Response:
        try:
            Ed25519PublicKey.from_public_bytes(self.vendor_key).verify(msg.signature, msg.report)
        except Exception:
            return wire.Error(
                "ATTESTATION_FAILED", "the report's signature does not verify under the vendor key"
            )
        report = wire.decode_as(msg.report, wire.EnclaveReport)
        if self.attestation_refused:
            return wire.Error("ATTESTATION_FAILED", self.attestation_refused)
        if report.measurement not in self.measurements:
            return wire.Error(
                "ATTESTATION_FAILED", f"measurement {report.measurement.hex()[:16]} is not expected"
            )
        key = self.db_keys.setdefault(msg.cosigner_id, self.env.randbytes(32))
        return wire.AttestationResult(seal_to(report.enclave_key, key, self.env.randbytes))

    # --- mailboxes ------------------------------------------------------------------------------------------

    def put(self, cosigner: str, item: wire.WorkItem) -> None:
        self.mailboxes.setdefault(cosigner, []).append(item)
        event = self._mail_events.pop(cosigner, None)
        if event is not None:
            event.set()

    async def _take(self, cosigner: str) -> list[wire.WorkItem]:
        with anyio.move_on_after(self.long_poll):
            while not self.mailboxes.get(cosigner):
                event = self._mail_events.setdefault(cosigner, anyio.Event())
                await event.wait()
        items, self.mailboxes[cosigner] = self.mailboxes.get(cosigner, []), []
        return items

    # --- the signing driver ---------------------------------------------------------------------------------

    async def probe(self, cosigner: str, api_user: str, tx: str) -> bool | None:
        """The node's answer: on its own (`ProbeAnswer`) or carried by its next poll (protocol v2)."""
        probe_id = self.env.ids.uuid()
        seen = len(self.inbox)
        self.put(
            cosigner,
            wire.AvailabilityProbe(probe_id, tx, api_user, self.env.clock.wall() + self.probe_window),
        )
        with anyio.move_on_after(self.probe_window):
            while True:
                for msg in self.inbox[seen:]:
                    answers = msg.answers if isinstance(msg, wire.Poll) else [msg]
                    for answer in answers:
                        if (
                            isinstance(answer, wire.ProbeAnswer | wire.Availability)
                            and answer.probe_id == probe_id
                        ):
                            return bool(answer.available)
                seen = len(self.inbox)
                await self._inbox_changed.wait()
        return None

    async def sign(
        self,
        cosigner: str,
        api_user: str,
        message: bytes,
        *,
        tx: str = "tx-1",
        ws: str = "ws-1",
        request: dict[str, Any] | None = None,
        session: str | None = None,
    ) -> Outcome:
        session = session or self.env.ids.uuid()
        clouds, public = self.workspaces[ws].users[api_user]
        body = request or {
            "txId": tx,
            "operation": "TRANSFER",
            "asset": "ETH",
            "amount": 1,
            "amountStr": "1",
            "destinations": [{"amountUSD": 3000}],
        }
        self.put(
            cosigner,
            wire.SignRequest(
                session, tx, api_user, body, message, NEW_SET, self.env.clock.wall() + self.attempt_timeout
            ),
        )
        try:
            with anyio.fail_after(self.attempt_timeout):
                result = await self._for_session(wire.CallbackResult, session)
                if result.action != "APPROVE":
                    detail = f"{result.cause}: {result.reason}" if result.cause else result.reason
                    return Outcome(
                        "REJECTED" if result.action == "REJECT" else "FAILED", detail, node=cosigner
                    )
                node_commitments = mpc.SigningCommitments.from_bytes(result.commitments)
                cloud_nonces = {j: mpc.commit(clouds[j], self.env.randbytes) for j in (2, 3)}
                package = mpc.SigningPackage(
                    message, {1: node_commitments, **{j: c for j, (_, c) in cloud_nonces.items()}}
                )
                if self.tamper_package is not None:
                    package = self.tamper_package(package)
                if self.before_round2 is not None:
                    await self.before_round2()
                self._answer_approval(session, wire.SignRound2(session, package.to_bytes()))
                share = mpc.SignatureShare.from_bytes(
                    (await self._for_session(wire.SignatureShare, session)).share
                )
        except TimeoutError:
            self._answer_approval(session, wire.Error("SESSION_CLOSED", "no progress"))
            self.put(cosigner, wire.SignAbort(session, "no progress"))
            return Outcome("TIMEOUT", "no progress from the node", node=cosigner)
        shares = {1: share, **{j: mpc.sign(package, cloud_nonces[j][0], clouds[j]) for j in (2, 3)}}
        signature = mpc.aggregate(package, shares, public)
        assert mpc.verify(public.group_public_key, message, signature)
        self.signed.append((tx, signature))
        self.env.trace.record(
            "signed",
            tx=tx,
            node=cosigner,
            api_user=api_user,
            scheme=mpc.scheme,
            public_key=public.group_public_key,
            message=message,
            signature=signature,
        )
        return Outcome("COMPLETED", signature=signature, node=cosigner)

    def _answer_approval(self, session: str, answer: wire.Response) -> None:
        event, box = self._approvals.setdefault(session, (anyio.Event(), []))
        if not box:
            box.append(answer)
            event.set()

    async def _for_session(self, kind: type[wire.Request], session: str) -> Any:
        seen = 0
        while True:
            for msg in self.inbox[seen:]:
                if isinstance(msg, kind) and getattr(msg, "session_id", None) == session:
                    return msg
            seen = len(self.inbox)
            await self._inbox_changed.wait()
