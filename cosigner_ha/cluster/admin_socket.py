"""Admin commands against a running node: `node start` answers them on a Unix socket in its home.

`node add-user`, `callback-update`, `list-users`, `print-public-key` and `setup` first try
`HOME/admin.sock` (created owner-only by `node start`): if the node is running they are carried out by it,
and the sealed database is opened by one process only. Otherwise they boot the enclave themselves, as
before. Whichever process opens the database holds `HOME/node.lock` (an exclusive `flock`) while it does, so
a second one is refused with a clear error instead of opening it too, even when the socket of a node that
was killed is left behind (a stale socket is noticed and replaced).

One request per connection: a JSON line `{"command", "token"?, "callback"?, "api_user"?, "url"?, "wait"?}`,
answered with one JSON line `{"exit", "lines", "error"?, "code"?}` (`code`: a refusal's stable code, such
as TOKEN_EXPIRED, else the error's kind). A launcher that must not wait for the answer (a pairing lasts
until the owner approves) sends its request with `Posted` and polls it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from cosigner_ha.node.errors import NodeError

SOCKET, LOCK = "admin.sock", "node.lock"
MAX_REQUEST = 1 << 20

Request = dict[str, Any]
Answer = tuple[int, list[str], str | None]
Run = Callable[[Request], Awaitable[Answer]]


@contextlib.contextmanager
def database_lock(home: Path) -> Iterator[None]:
    """Hold `HOME/node.lock` while this process has the node's database open; refuse if another does."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / LOCK).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise NodeError(
                f"{home}: the node's database is open in another process (pid {holder}); "
                "run admin commands while `node start` runs (they go through its admin socket) or stop it first"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: A Unix socket address holds 108 bytes; a longer path is reached through its directory's descriptor.
SOCKET_PATH_MAX = 100


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """A name for `path` that fits a Unix socket address: `path` itself when short, else the same file
    through `/proc/self/fd/N` of its directory (Linux), so a deep home (a launcher's temp directory) works."""
    text = str(path)
    if len(text.encode()) < SOCKET_PATH_MAX:
        yield text
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


async def ask_running(home: Path, request: Request) -> Answer | None:
    """The running node's answer, or None when no node is running on `home` (no socket, or a stale one)."""
    path = home / SOCKET
    if not path.exists():
        return None
    try:
        with _address(path) as address:
            stream = await anyio.connect_unix(address)
    except OSError:
        return None  # left behind by a node that was killed
    async with stream:
        await stream.send(json.dumps(request).encode() + b"\n")
        reader = BufferedByteReceiveStream(stream)
        line = await reader.receive_until(b"\n", MAX_REQUEST)
    answer = json.loads(line)
    return int(answer["exit"]), [str(x) for x in answer["lines"]], answer.get("error")


async def serve(
    home: Path, run: Run, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Answer admin requests on `HOME/admin.sock` until cancelled (then the socket is removed)."""
    path = home / SOCKET
    path.unlink(missing_ok=True)
    with _address(path) as address:
        listener = await anyio.create_unix_listener(address)
    os.chmod(path, 0o600)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                line = await BufferedByteReceiveStream(stream).receive_until(b"\n", MAX_REQUEST)
                request = json.loads(line)
                if not isinstance(request, dict) or not isinstance(request.get("command"), str):
                    raise ValueError("expected a JSON object with a command")
                code, lines, error = await run(request)
                kind = None
            except (ValueError, anyio.IncompleteRead, anyio.DelimiterNotFound) as exc:
                code, lines, error, kind = 2, [], f"bad admin request: {exc}", type(exc).__name__
            except NodeError as exc:
                code, lines, error = 1, [], str(exc)
                kind = str(getattr(exc, "code", None) or type(exc).__name__)
            answer = {"exit": code, "lines": lines, "error": error, "code": kind}
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.send(json.dumps(answer).encode() + b"\n")

    try:
        async with listener:
            task_status.started()
            await listener.serve(handle)
    finally:
        path.unlink(missing_ok=True)


class Posted:
    """An admin request sent to the node running on `home` without waiting for its answer: `poll()` reads
    what has arrived and returns the answer (`{"exit", "lines", "error", "code"}`) once it is whole.

    Plain non-blocking socket calls, so a synchronous launcher polls it between the steps of its agenda.
    `OSError` from the constructor: no node answers there (none running, or the socket of a killed one);
    `ConnectionError` from `poll`: the node went away before answering."""

    def __init__(self, home: Path, request: Request) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _address(home / SOCKET) as address:
                self._socket.connect(address)
            self._socket.sendall(json.dumps(request).encode() + b"\n")
        except OSError:
            self._socket.close()
            raise
        self._socket.setblocking(False)
        self._received = b""

    def poll(self) -> dict[str, Any] | None:
        while b"\n" not in self._received:
            try:
                data = self._socket.recv(65536)
            except BlockingIOError:
                return None
            except OSError as exc:
                self.close()
                raise ConnectionError(f"the node's admin socket failed before it answered: {exc}") from None
            if not data:
                self.close()
                raise ConnectionError("the node closed its admin socket before it answered (it stopped)")
            self._received += data
            if len(self._received) > MAX_REQUEST:
                self.close()
                raise ConnectionError("the node's answer is too long")
        self.close()
        try:
            answer = json.loads(self._received.partition(b"\n")[0])
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ConnectionError(f"the node answered {answer!r}, not an admin answer")
        return answer

    def close(self) -> None:
        self._socket.close()
