"""Debian's redis-server (package ``redis-server``) as the shared state store's peer.

The shared store (``Client(store="redis://...")``) is only worth something if it holds
against a real Redis: its own ``TIME``, its own Lua, its own way of dying. This runs one
on 127.0.0.1 on a free port, in a directory of the test's, with no persistence (``--save
''``, ``--appendonly no``: every start is empty, and nothing is written but the log), and
can stop, restart (on the same port, empty again, as a Redis without persistence comes
back), pause and resume it in the middle of a test.

Readiness is judged by Redis itself answering ``INFO`` with this process's id (another
Redis holding the port would answer PING too), within a bounded wait. Commands are sent
with :meth:`RedisServer.call`, a few lines of RESP, so the harness needs no Redis client
library of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pytest

REDIS_SERVER = Path("/usr/bin/redis-server")
PACKAGE_HINT = "needs Debian's redis-server (apt-get install redis-server)"
START_S = 10.0
"""Upper bound on redis-server starting to answer PING; reached only when it is broken."""
STOP_S = 10.0
"""Upper bound on the wait after SIGTERM before SIGKILL."""
CALL_S = 5.0
"""Timeout of one command sent by :meth:`RedisServer.call`."""
PORT_TRIES = 5
"""A free port found by binding port 0 may be taken before redis-server binds it."""

Reply = str | int | None | list["Reply"]


class RedisError(Exception):
    """An error reply (``-ERR ...``) from redis-server."""


def require_redis() -> Path:
    """The redis-server binary, or a skip that names the package to install."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip(PACKAGE_HINT)
    return REDIS_SERVER


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class RedisServer:
    """One redis-server on ``127.0.0.1:port``; :func:`redis_server` starts and stops it."""

    port: int
    workdir: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _paused: bool = field(default=False, repr=False)
    password: str | None = field(default=None, repr=False)
    """Set by :meth:`start` with ``password=``: the server then asks for it
    (``requirepass``), and :meth:`call` sends it first."""

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``: what ``Client(store=...)`` takes."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.workdir / "redis.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, password: str | None = None) -> None:
        """Start it on its port (empty) and wait until it answers PING; RuntimeError with
        its log if it does not within :data:`START_S`. ``password``: it asks for one."""
        if self.running:
            raise RuntimeError(f"redis-server on port {self.port} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            str(require_redis()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.log),
        ]  # fmt: skip
        self.password = password
        if password:
            command += ["--requirepass", password]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._paused = False
        if not self._wait_ready():
            self.stop()
            raise RuntimeError(f"redis-server did not start on port {self.port}:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM (a Redis without persistence exits at once), SIGKILL if it has not
        after :data:`STOP_S`; its keys are gone."""
        process = self._process
        if process is None:
            return
        if self._paused:
            self.resume()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port: what clients see when Redis is
        restarted under them (connections refused meanwhile, then an empty server)."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, as a hung server."""
        assert self._process is not None and self.running, "redis-server is not running"
        self._process.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        assert self._process is not None, "redis-server is not running"
        self._process.send_signal(signal.SIGCONT)
        self._paused = False

    def call(self, *args: str | int, timeout: float = CALL_S) -> Reply:
        """Send one command and return its reply (RESP2: str, int, None, list);
        RedisError for an error reply, OSError when nothing answers within ``timeout``."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            with sock.makefile("rb") as stream:
                if self.password:
                    sock.sendall(_encode(("AUTH", self.password)))
                    _read_reply(stream)
                sock.sendall(_encode(args))
                return _read_reply(stream)

    def ping(self) -> bool:
        try:
            return self.call("PING") == "PONG"
        except (OSError, RedisError):
            return False

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _wait_ready(self) -> bool:
        """Until the server on the port answers and is this process: another Redis that
        holds the port would answer PING too, while ours fails to bind and exits."""
        assert self._process is not None
        ours = f"process_id:{self._process.pid}"
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if not self.running:
                return False
            try:
                info = self.call("INFO", "server", timeout=0.5)
            except (OSError, RedisError):
                info = None
            if isinstance(info, str) and ours in info.split("\r\n"):
                return True
            time.sleep(0.01)
        return False


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """Run redis-server on a free port of 127.0.0.1, everything it writes inside
    ``workdir``; stop it when the block exits (whatever a test did to it meanwhile)."""
    require_redis()
    failures = []
    for _ in range(PORT_TRIES):
        server = RedisServer(free_port(), workdir)
        try:
            server.start()
        except RuntimeError as exc:
            failures.append(str(exc))
            if "Address already in use" not in str(exc):
                break
            continue
        try:
            yield server
        finally:
            server.stop()
        return
    raise RuntimeError("redis-server did not start:\n" + "\n---\n".join(failures))


def _encode(args: tuple[str | int, ...]) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read_reply(stream: BinaryIO) -> Reply:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("redis-server closed the connection mid-reply")
    kind, rest = line[:1], line[1:-2].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RedisError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        return stream.read(size + 2)[:-2].decode()
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_read_reply(stream) for _ in range(count)]
    raise OSError(f"not a RESP reply: {line!r}")


@contextmanager
def redis_server_or_skip() -> Iterator[RedisServer]:
    """:func:`redis_server` in a temporary directory of its own, or the skip that names
    the package when redis-server is missing."""
    require_redis()
    with tempfile.TemporaryDirectory(prefix="sg-redis-") as directory:
        with redis_server(Path(directory)) as server:
            yield server
