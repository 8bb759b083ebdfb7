"""Debian's nginx (package ``nginx-light``) as a rate limiter in front of an upstream.

sluicegate's rate limiter is otherwise only tested against limiters the project wrote
itself (the mock server's, the scripted transports), which share its idea of what a limit
is. nginx's ``limit_req`` is a widely deployed leaky bucket with its own rounding and its
own 429s (an HTML body, no ``Retry-After``), so a client that paces itself correctly
against it is correct against something it did not write. The counts the tests judge are
read from nginx's access log, not from the client, for the same reason.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

NGINX = Path("/usr/sbin/nginx")
PACKAGE_HINT = "needs Debian's nginx-light package (apt-get install nginx-light)"
START_S = 10.0
"""Upper bound on nginx starting to accept connections; reached only when it is broken."""
STOP_S = 10.0
"""Upper bound on each stop signal's wait before the next, harsher one."""
PORT_TRIES = 5
"""A free port found by binding port 0 may be taken before nginx binds it: try again."""

LOG_FORMAT = "$msec\\t$request_time\\t$status\\t$request_method\\t$request_uri"
"""Tab-separated, so a field never needs unquoting: end time (s since the epoch, ms
resolution), duration (s), status, method, URI."""

CONF = """\
{user}worker_processes 1;
pid nginx.pid;
error_log {error_log} notice;
events {{ worker_connections 1024; }}
http {{
    log_format sg '{log_format}';
    access_log {access_log} sg;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;

    limit_req_zone $binary_remote_addr zone=sg:1m rate={rate}r/s;
    upstream sg_upstream {{
        server {upstream};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            limit_req zone=sg burst={burst} nodelay;
            limit_req_status 429;
            proxy_pass http://sg_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


@dataclass(frozen=True)
class LogEntry:
    end: float
    """``$msec``: when nginx finished the request (the last byte sent to the client)."""
    duration: float
    """``$request_time``: from the first byte read from the client to the end."""
    status: int
    method: str
    uri: str

    @property
    def start(self) -> float:
        return self.end - self.duration


@dataclass(frozen=True)
class AccessLog:
    """What nginx saw, which is what the provider behind it would have seen and billed."""

    entries: tuple[LogEntry, ...]

    @classmethod
    def read(cls, path: Path) -> AccessLog:
        entries = []
        for line in path.read_text().splitlines():
            end, duration, status, method, uri = line.split("\t")
            entries.append(LogEntry(float(end), float(duration), int(status), method, uri))
        return cls(tuple(entries))

    @property
    def attempts(self) -> int:
        return len(self.entries)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(entry.status for entry in self.entries)

    @property
    def duration(self) -> float:
        """From the first request's start to the last one's end, on nginx's clock, so the
        client's start-up and shut-down are not counted."""
        if not self.entries:
            return 0.0
        return max(e.end for e in self.entries) - min(e.start for e in self.entries)


@dataclass(frozen=True)
class Nginx:
    base_url: str
    """``http://127.0.0.1:PORT``; OpenAI clients take ``base_url + "/v1"``."""
    access_log: Path
    error_log: Path

    def read_log(self) -> AccessLog:
        return AccessLog.read(self.access_log)


def require_nginx() -> Path:
    """The nginx binary, or a skip that names the package to install."""
    if not os.access(NGINX, os.X_OK):
        pytest.skip(PACKAGE_HINT)
    return NGINX


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def limit_req_proxy(upstream: str, workdir: Path, *, rate: int, burst: int) -> Iterator[Nginx]:
    """Run nginx in the foreground with ``limit_req`` (``rate`` r/s, ``burst``, nodelay,
    429 above it) in front of ``upstream`` (a base URL such as ``http://127.0.0.1:8765``),
    everything it writes inside ``workdir``; stop it when the block exits."""
    binary = require_nginx()
    target = urlsplit(upstream)
    if target.scheme != "http" or not target.hostname or not target.port:
        raise ValueError(f"upstream must be http://HOST:PORT, got {upstream!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    access_log, error_log = workdir / "access.log", workdir / "error.log"
    failures = []
    for _ in range(PORT_TRIES):
        port = free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(
            CONF.format(
                # As root, the workers would otherwise run as nobody, who cannot enter a
                # 0700 temporary directory; as anyone else the directive is ignored.
                user="user root;\n" if os.geteuid() == 0 else "",
                error_log=error_log,
                access_log=access_log,
                log_format=LOG_FORMAT,
                rate=rate,
                burst=burst,
                upstream=f"{target.hostname}:{target.port}",
                port=port,
            )
        )
        access_log.unlink(missing_ok=True)
        command: list[str | Path] = [binary, "-p", f"{workdir}/", "-c", conf, "-e", error_log]
        process = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # Its own process group, so that the workers can be killed with the master if
            # the master ever has to be killed outright.
            start_new_session=True,
        )
        try:
            if _wait_accepting(process, port):
                yield Nginx(f"http://127.0.0.1:{port}", access_log, error_log)
                return
        finally:
            _stop(process)
            assert process.stderr is not None
            with process.stderr:
                output = process.stderr.read()
        output += _tail(error_log)
        failures.append(output)
        if "Address already in use" not in output:
            break
    raise RuntimeError("nginx did not start:\n" + "\n---\n".join(failures))


def _wait_accepting(process: subprocess.Popen[str], port: int) -> bool:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.02)
    return False


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGQUIT (graceful: finish what is in flight), then SIGTERM (fast), then SIGKILL to
    the whole group, each wait bounded."""
    for sent in (signal.SIGQUIT, signal.SIGTERM):
        if process.poll() is not None:
            return
        process.send_signal(sent)
        try:
            process.wait(STOP_S)
            return
        except subprocess.TimeoutExpired:
            pass
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except FileNotFoundError:
        return ""
