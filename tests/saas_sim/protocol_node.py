"""A small co-signer that speaks wire protocol v1 to the SaaS, for tests (the real node is another issue).

It pairs with a pairing token (opening its sealed resharing contributions and combining its own share),
refreshes access tokens, long-polls on one connection and answers on another, and can be told how to
behave: answer probes or not, what its "callback handler" decides and how fast, vanish after sending its
commitments (a crash mid-signing), or send a corrupt signature share.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import anyio.abc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.public import PrivateKey

from cosigner_ha import mpc, wire
from cosigner_ha.env import Environment
from cosigner_ha.net import ConnectionClosed, FramedStream, NetError, Network, SimNetwork
from cosigner_ha.wire.sealing import unseal


@dataclasses.dataclass(slots=True)
class Behaviour:
    probe: str = "yes"  # yes | no | silent
    probe_delay: float = 0.05
    callback: str = "APPROVE"  # APPROVE | REJECT | FAILED | SILENT
    callback_cause: str = "TIMEOUT"  # with FAILED: the node's callback failure kind (wire.CALLBACK_FAILURES)
    callback_delay: float = 0.2
    vanish_after_commit: bool = False  # the host crashes right after sending its commitments
    cut_off_after_commit: bool = False  # the host is partitioned from the SaaS instead
    corrupt_share: bool = False


class ProtocolError(Exception):
    def __init__(self, error: wire.Error) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class ProtocolNode:
    def __init__(
        self,
        env: Environment,
        net: SimNetwork | Network,
        *,
        host: str,
        saas: str,
        cosigner_id: str | None = None,
        cosigner_type: str = "SGX",
        behaviour: Behaviour | None = None,
    ) -> None:
        self.env = env
        self.net = net
        self.host = host
        self.saas = saas
        self.cosigner_id = cosigner_id or host
        self.cosigner_type = cosigner_type
        self.behaviour = behaviour or Behaviour()
        self._transport = PrivateKey(env.randbytes(32))
        self._config = Ed25519PrivateKey.from_private_bytes(env.randbytes(32))
        self.keys: dict[str, mpc.KeyPackage] = {}  # API user id -> this node's share
        self.refresh_tokens: dict[str, str] = {}
        self.access_token = ""
        self._request_stream: FramedStream | None = None
        self._lock = anyio.Lock()
        self._nonces: dict[str, mpc.SigningNonces] = {}
        self.consumed = mpc.ConsumedNonces()
        self.log: list[tuple[str, Any]] = []
        self._scope: anyio.CancelScope | None = None
        self.auto_config_answer: bool | None = True

    @property
    def config_public_key(self) -> bytes:
        return self._config.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    # --- plumbing ------------------------------------------------------------------------------------------

    async def connect(self) -> FramedStream:
        if isinstance(self.net, SimNetwork):
            return await self.net.host(self.host).connect(self.saas)
        return await self.net.connect(self.saas)

    async def exchange(self, stream: FramedStream, msg: wire.Message) -> wire.Message:
        await stream.send(wire.encode(msg))
        return wire.decode(await stream.receive())

    async def call(self, msg: wire.Request) -> wire.Response:
        """One request on the shared request connection (reconnecting when the SaaS closed it)."""
        async with self._lock:
            if self._request_stream is None:
                self._request_stream = await self.connect()
            try:
                response = await self.exchange(self._request_stream, msg)
            except ConnectionClosed:
                self._request_stream = None
                raise
            assert isinstance(response, wire.Response)
            if isinstance(response, wire.Error) and response.code.startswith("TOKEN"):
                self._request_stream = None  # the SaaS closes the connection after a token refusal
            return response

    async def call_ok(self, msg: wire.Request) -> wire.Response:
        response = await self.call(msg)
        if isinstance(response, wire.Error):
            raise ProtocolError(response)
        return response

    # --- pairing -------------------------------------------------------------------------------------------

    def pair_message(self, token: str) -> wire.Pair:
        return wire.Pair(
            pairing_token=token,
            cosigner_id=self.cosigner_id,
            cosigner_type=self.cosigner_type,
            version="test-1.0",
            config_key=self.config_public_key,
            transport_key=bytes(self._transport.public_key),
        )

    async def pair(self, token: str) -> wire.PairCompleted:
        """Pair on a connection of its own (PairStatus is held like a poll)."""
        stream = await self.connect()
        try:
            pending = await self.exchange(stream, self.pair_message(token))
            while True:
                if isinstance(pending, wire.Error):
                    raise ProtocolError(pending)
                assert isinstance(pending, wire.PairPending | wire.PairCompleted), pending
                if isinstance(pending, wire.PairCompleted):
                    self._install(pending)
                    return pending
                request_id = pending.request_id
                pending = await self.exchange(stream, wire.PairStatus(request_id, self.cosigner_id, token))  # type: ignore[assignment]
        finally:
            await stream.aclose()

    def _install(self, done: wire.PairCompleted) -> None:
        contributions = [
            wire.decode_as(unseal(bytes(self._transport), sealed), wire.ShareContribution)
            for sealed in done.contributions
        ]
        first = contributions[0]
        old = mpc.PublicKeyPackage.from_bytes(first.old_public_package)
        commitments = {c.sender: mpc.DealerCommitment(c.sender, tuple(c.commitment)) for c in contributions}
        shares = {
            c.sender: mpc.DealtShare.from_dict({"sender": c.sender, "receiver": c.receiver, "value": c.share})
            for c in contributions
        }
        key, public = mpc.reshare_combine(
            done.identifier, first.new_identifiers, first.new_threshold, old, commitments, shares
        )
        assert public.to_bytes() == done.public_package, "the node and the SaaS disagree on the new key"
        self.keys[done.api_user] = key
        self.refresh_tokens[done.api_user] = done.refresh_token

    async def refresh(self) -> wire.TokenGrant:
        if not self.refresh_tokens:
            raise ProtocolError(wire.Error("UNPAIRED", "this node has no paired API user left"))
        api_user = next(iter(self.refresh_tokens))
        grant = await self.call_ok(wire.RefreshAccess(self.cosigner_id, self.refresh_tokens[api_user]))
        assert isinstance(grant, wire.TokenGrant)
        self.access_token = grant.access_token
        return grant

    # --- running -------------------------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            async with anyio.create_task_group() as tasks:
                grant = await self.refresh()
                tasks.start_soon(self._refresher, grant.expires_at)
                task_status.started()
                await self._poll_loop(tasks)

    def crash(self) -> None:
        """The host dies: every connection breaks and nothing more is sent."""
        assert isinstance(self.net, SimNetwork), "only a simulated host can crash"
        self.net.crash(self.host)
        if self._scope is not None:
            self._scope.cancel()
        self.log.append(("crashed", None))

    async def _refresher(self, expires_at: float) -> None:
        while True:
            await self.env.clock.sleep(max(1.0, (expires_at - self.env.clock.wall()) / 2))
            try:
                expires_at = (await self.refresh()).expires_at
            except ProtocolError as exc:
                self.log.append(("refresh_error", exc.error.code))
                return
            except (ConnectionClosed, NetError) as exc:
                self.log.append(("refresh_lost", str(exc)))
                expires_at = self.env.clock.wall() + 10.0

    async def _poll_loop(self, tasks: anyio.abc.TaskGroup) -> None:
        stream: FramedStream | None = None
        while True:
            try:
                if stream is None:
                    stream = await self.connect()
                result = await self.exchange(
                    stream, wire.Poll(self.access_token, self.cosigner_id, list(self.keys))
                )
            except (ConnectionClosed, NetError):
                stream = None
                await self.env.clock.sleep(1.0)
                continue
            if isinstance(result, wire.Error):
                self.log.append(("poll_error", result.code))
                stream = None
                if result.code.startswith("TOKEN"):
                    try:
                        await self.refresh()
                    except ProtocolError as exc:
                        self.log.append(("refresh_error", exc.error.code))
                        return  # unpaired: nothing left to poll for
                    except (ConnectionClosed, NetError):
                        await self.env.clock.sleep(1.0)
                continue
            assert isinstance(result, wire.PollResult)
            for item in result.items:
                tasks.start_soon(self._handle, item)

    async def _handle(self, item: wire.WorkItem) -> None:
        self.log.append((item.TYPE, item))
        try:
            await self._handle_item(item)
        except (ConnectionClosed, NetError) as exc:  # cut off: what was in flight is lost, like a real node's
            self.log.append(("lost", f"{item.TYPE}: {exc}"))

    async def _round2(self, api_user: str, item: wire.SignRound2) -> None:
        b = self.behaviour
        nonces = self._nonces.pop(item.session_id)
        package = mpc.SigningPackage.from_bytes(item.signing_package)
        share = mpc.sign_once(package, nonces, self.keys[api_user], persist=self.consumed.mark)
        data = share.to_bytes()
        if b.corrupt_share:
            data = mpc.SignatureShare(share.identifier, (share.share + 1) % (2**252)).to_bytes()
        self.log.append(("share_sent", item.session_id))
        response = await self.call(wire.SignatureShare(self.access_token, item.session_id, data))
        self.log.append(("share_answer", response))

    async def _handle_item(self, item: wire.WorkItem) -> None:
        b = self.behaviour
        if isinstance(item, wire.AvailabilityProbe):
            if b.probe == "silent":
                return
            await self.env.clock.sleep(b.probe_delay)
            await self.call(
                wire.ProbeAnswer(self.access_token, item.probe_id, item.api_user, b.probe == "yes")
            )
        elif isinstance(item, wire.SignRequest):
            if b.callback == "SILENT":
                return
            await self.env.clock.sleep(b.callback_delay)
            commitments = b""
            if b.callback == "APPROVE":  # protocol v2: the approval carries the node's commitments
                nonces, committed = mpc.commit(self.keys[item.api_user], self.env.randbytes)
                self._nonces[item.session_id] = nonces
                commitments = committed.to_bytes()
            answer = await self.call(
                wire.CallbackResult(
                    self.access_token,
                    item.session_id,
                    b.callback,
                    f"test {b.callback}",
                    b.callback_cause if b.callback == "FAILED" else "",
                    commitments,
                )
            )
            if b.callback != "APPROVE":
                return
            if b.vanish_after_commit:
                self.crash()
                return
            if b.cut_off_after_commit:
                assert isinstance(self.net, SimNetwork)
                self.net.partition(self.host, self.saas.partition(":")[0])
                self.log.append(("cut_off", None))
                return
            self.log.append((answer.TYPE, answer))
            if isinstance(answer, wire.SignRound2):
                await self._round2(item.api_user, answer)
        elif isinstance(item, wire.SignAbort):
            self._nonces.pop(item.session_id, None)
        elif isinstance(item, wire.AddUserCommand):
            try:
                await self.pair(item.pairing_token)
                ok, detail = True, "paired"
            except ProtocolError as exc:
                ok, detail = False, str(exc)
            await self.call(wire.CommandResult(self.access_token, item.request_id, ok, detail))
        elif isinstance(item, wire.CallbackUpdateCommand):
            await self.call(wire.CommandResult(self.access_token, item.request_id, True, "updated"))
        elif isinstance(item, wire.UnpairCommand):
            self.keys.pop(item.api_user, None)
            self.refresh_tokens.pop(item.api_user, None)
            await self.call(wire.CommandResult(self.access_token, item.request_id, True, "erased"))
        elif isinstance(item, wire.ConfigChange):
            if self.auto_config_answer is None:
                return
            approved = self.auto_config_answer
            signed = wire.encode(
                wire.ConfigChangeApproval(item.request_id, item.api_user, item.kind, item.payload, approved)
            )
            await self.call(
                wire.ConfigChangeAnswer(
                    self.access_token,
                    item.request_id,
                    item.api_user,
                    approved,
                    self._config.sign(signed),
                    "test",
                )
            )

    def sent(self, kind: str) -> list[Any]:
        return [data for k, data in self.log if k == kind]
