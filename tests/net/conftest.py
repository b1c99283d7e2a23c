"""Fixtures that let one suite run against both transports.

`net` is a `Harness` for the simulated network (virtual time, `MockClock(autojump_threshold=0)`), for
TCP on 127.0.0.1, or for TLS over it with a self-signed certificate made for the test (real time). pytest-trio only hands a clock to `trio.run` when the test function
itself takes it, so contract tests take the `clock` fixture too (it is `None` for TCP).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import random
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
import trio.testing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cosigner_ha.net import FramedStream, Listener, Network, SimNetwork, TcpNetwork, TcpStream
from cosigner_ha.net.link import LinkSpec

KINDS = ["sim", "tcp", "tls"]


@dataclass
class Harness:
    """One transport as the contract tests see it: a server side, a client side, and ways to hurt them."""

    kind: str
    server: Network
    client: Network
    listen_address: str
    sim: SimNetwork | None = None
    #: a short wait that is long enough for anything in flight to arrive (virtual or real seconds)
    settle: float = 0.2

    async def pair(self) -> tuple[Listener, FramedStream, FramedStream]:
        """A listener and a connected (client end, server end).

        Accepting runs in its own task, as in a server's accept loop: over TLS, `connect` returns only
        once the server side has shaken hands, which it does at its first send or receive.
        """
        listener = await self.server.listen(self.listen_address)
        accepted: list[FramedStream] = []

        async def accept() -> None:
            stream = await listener.accept()
            accepted.append(stream)
            if isinstance(stream, TcpStream):
                await stream.do_handshake()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(accept)
            client = await self.client.connect(listener.address)
        return listener, client, accepted[0]

    async def crash_server_side(self, server_end: FramedStream) -> None:
        """Simulated: crash the server host. TCP: reset the server's socket, as a dying process would."""
        if self.sim is not None:
            self.sim.crash("server")
        else:
            await server_end.abort()

    def refused_address(self) -> str:
        """An address on an up host where nothing listens."""
        if self.sim is not None:
            return "server:9"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"127.0.0.1:{port}"

    @contextlib.contextmanager
    def silent_address(self) -> Iterator[str]:
        """An address whose host never answers a connection attempt.

        Simulated: a host partitioned from the client. TCP: a listener whose accept queue is full, so
        the kernel drops further SYNs (Linux default, tcp_abort_on_overflow = 0).
        """
        if self.sim is not None:
            self.sim.host("island")
            self.sim.partition("client", "island")
            yield "island:443"
            self.sim.heal("client", "island")
            return
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(listener.getsockname())
            fillers.append(filler)
        try:
            yield f"127.0.0.1:{listener.getsockname()[1]}"
        finally:
            for sock in [*fillers, listener]:
                sock.close()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock(kind: str) -> trio.testing.MockClock | None:
    return trio.testing.MockClock(autojump_threshold=0) if kind == "sim" else None


@pytest.fixture
def net(kind: str, tmp_path: Path) -> Harness:
    if kind == "sim":
        sim = SimNetwork(random.Random(2024), default_link=LinkSpec(latency=0.02, jitter=0.01, loss=0.05))
        return Harness("sim", sim.host("server"), sim.host("client"), "server:0", sim=sim, settle=2.0)
    if kind == "tls":
        client_context, server_context = tls_contexts(tmp_path)
        server, client = (
            TcpNetwork(ssl_context_server=server_context),
            TcpNetwork(ssl_context_client=client_context),
        )
        return Harness("tls", server, client, "127.0.0.1:0")
    tcp = TcpNetwork()
    return Harness("tcp", tcp, tcp, "127.0.0.1:0")


def self_signed_certificate(tmp_path: Path, name: str = "localhost") -> tuple[Path, Path, bytes]:
    """(certificate file, key file, certificate PEM) for `name` and 127.0.0.1, made fresh."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    alt_names = [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365 * 30))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file.write_bytes(key_pem)
    return cert_file, key_file, cert_pem


def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(client context trusting a fresh self-signed certificate, server context presenting it)."""
    cert_file, key_file, cert_pem = self_signed_certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return client, server


@pytest.fixture
def autojump() -> trio.testing.MockClock:
    """Virtual time for simulated-only tests."""
    return trio.testing.MockClock(autojump_threshold=0)


@contextlib.asynccontextmanager
async def closing(*resources: FramedStream | Listener) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for resource in resources:
            await resource.aclose()
