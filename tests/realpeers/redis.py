"""Debian's ``redis-server`` (package ``redis-server``), started on 127.0.0.1 for a test.

(A first version, for the shared-store tests; the scale-out harness extends it.)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_HINT = "needs Debian's redis-server package (apt-get install redis-server)"
START_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, password: str | None = None) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        auth = ["--requirepass", password] if password else []
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *auth,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def redis_server_or_skip() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip(PACKAGE_HINT)
    with tempfile.TemporaryDirectory(prefix="sg-redis-") as directory:
        server = RedisServer(_free_port(), Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()
