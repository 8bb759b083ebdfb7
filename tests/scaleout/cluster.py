"""A scale-out run on one machine: the mock server in its own process, K worker
processes (:mod:`scaleout.worker`) on asyncio and trio, optionally one of them killed
with SIGKILL mid-run, and what the server recorded.

The parts are real OS processes, so nothing is shared between the workers but what
sluicegate shares (a store, when given) and the server they all call. The verdict comes
from the server's arrival record (``GET /_mock/arrivals``), the workers' summaries only
explain it. Every wait is bounded: a run that hangs fails with the workers' stderr.

Use::

    with mock_peer(latency_s=0.01) as base_url:
        run = run_workers(base_url, ["asyncio", "trio"], ["--rps", "20", "--duration-s", "3"])
    run.arrivals.times_ns   # when each request arrived, on the machine's monotonic clock

or :func:`run_cluster` for both at once.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
MOCK_PEER = HERE / "mock_peer.py"
START_S = 30.0
"""Upper bound on the server, or every worker, being ready; reached only when broken (on
two busy CPUs four interpreters importing sluicegate take a few seconds)."""
GRACE_S = 15.0
"""How long past its ``--duration-s`` a worker may take to close its client and report."""
STOP_S = 10.0

DEFAULT_BACKENDS = ("asyncio", "asyncio", "trio", "trio")


class Entry(NamedTuple):
    """One request as the server recorded it (``sluicegate.testing.mock_arrivals``)."""

    arrived_ns: int
    status: int
    input_tokens: int
    output_tokens: int
    client: str | None
    """The worker that sent it (its ``--name``, sent as ``x-mock-client``)."""


@dataclass(frozen=True)
class Arrivals:
    """The server's record: one entry per completion request, in arrival order."""

    entries: tuple[Entry, ...]
    dropped: int

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> Arrivals:
        assert tuple(snapshot["fields"]) == Entry._fields, snapshot["fields"]
        return cls(tuple(Entry(*e) for e in snapshot["arrivals"]), snapshot["dropped"])

    @property
    def times_ns(self) -> list[int]:
        return [e.arrived_ns for e in self.entries]

    @property
    def tokens(self) -> list[int]:
        """Input plus output tokens of each arrival (what ``tpm`` counts)."""
        return [e.input_tokens + e.output_tokens for e in self.entries]

    @property
    def by_status(self) -> Counter[int]:
        return Counter(e.status for e in self.entries)

    @property
    def by_client(self) -> Counter[str | None]:
        return Counter(e.client for e in self.entries)

    def since(self, start_ns: int) -> Arrivals:
        """Only the arrivals at or after ``start_ns``."""
        return self._where(lambda e: e.arrived_ns >= start_ns)

    def before(self, end_ns: int) -> Arrivals:
        return self._where(lambda e: e.arrived_ns < end_ns)

    def of(self, client: str) -> Arrivals:
        """Only what worker ``client`` sent."""
        return self._where(lambda e: e.client == client)

    def _where(self, keep: Callable[[Entry], bool]) -> Arrivals:
        return Arrivals(tuple(e for e in self.entries if keep(e)), self.dropped)


@dataclass(frozen=True)
class Kill:
    """SIGKILL worker ``worker`` (an index into the backends) ``at_s`` seconds after go."""

    worker: int
    at_s: float


@dataclass(frozen=True)
class ClusterRun:
    arrivals: Arrivals
    names: tuple[str, ...]
    """Each worker's name (``worker-<index>``), as its requests' ``client``."""
    summaries: tuple[dict[str, Any] | None, ...]
    """Each worker's JSON summary, in the order of the backends; None for the killed one."""
    backends: tuple[str, ...]
    go_ns: int
    """``time.monotonic_ns()`` when ``go`` was sent: the same clock as the arrivals."""
    killed_ns: int | None
    """When the SIGKILL was sent, on that clock; None without a kill."""


@contextmanager
def mock_peer(**config: Any) -> Iterator[str]:
    """Run :mod:`scaleout.mock_peer` with these ``MockConfig`` fields; yield its base URL."""
    with ExitStack() as stack:
        stderr = stack.enter_context(tempfile.TemporaryFile("w+"))
        process = subprocess.Popen(
            [sys.executable, str(MOCK_PEER), json.dumps(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        stack.callback(_stop, process)
        assert process.stdout is not None
        stack.callback(process.stdout.close)
        first = _readline(process, process.stdout, time.monotonic() + START_S)
        if not first.startswith("http://"):
            raise RuntimeError(f"mock server did not start: {first!r}\n{_read(stderr)}")
        yield first.strip()


def fetch_arrivals(base_url: str) -> Arrivals:
    with urllib.request.urlopen(f"{base_url}/_mock/arrivals", timeout=STOP_S) as answer:
        return Arrivals.from_snapshot(json.loads(answer.read()))


def reset_server(base_url: str) -> None:
    """Clear the record and the stats, for a server shared by several runs."""
    request = urllib.request.Request(f"{base_url}/_mock/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=STOP_S):
        pass


def worker_command(backend: str, base_url: str, name: str, args: Sequence[str]) -> list[str]:
    command = [sys.executable, str(WORKER), "--backend", backend, "--base-url", base_url]
    return [*command, "--name", name, *args]


def run_workers(
    base_url: str,
    backends: Sequence[str],
    args: Sequence[str],
    *,
    kill: Kill | None = None,
    duration_s: float | None = None,
    extra: Sequence[Sequence[str]] = (),
) -> ClusterRun:
    """Start one worker per backend with ``args``, wait until all are ready, send go to
    all, SIGKILL ``kill.worker`` at ``kill.at_s``, wait for the others (each bounded by
    its duration plus :data:`GRACE_S`) and read the server's arrivals.

    ``duration_s`` is what the workers were given (``--duration-s`` in ``args``, or the
    worker's default), for the bound on the wait. ``extra``: more arguments for each
    worker in turn (the first for worker 0...), after ``args``.
    """
    duration_s = duration_s if duration_s is not None else _duration_of(args)
    with ExitStack() as stack:
        workers: list[subprocess.Popen[str]] = []
        logs: list[IO[str]] = []
        names = tuple(f"worker-{i}" for i in range(len(backends)))
        for i, (backend, name) in enumerate(zip(backends, names, strict=True)):
            log = stack.enter_context(tempfile.TemporaryFile("w+"))
            own = [*args, *(extra[i] if i < len(extra) else ())]
            process = subprocess.Popen(
                worker_command(backend, base_url, name, own),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            stack.callback(_stop, process)
            workers.append(process)
            logs.append(log)
        deadline = time.monotonic() + START_S
        for i, process in enumerate(workers):
            assert process.stdout is not None
            line = _readline(process, process.stdout, deadline)
            if line.strip() != "ready":
                raise RuntimeError(
                    f"worker {i} ({backends[i]}) not ready: {line!r}\n{_read(logs[i])}"
                )
        go_ns = time.monotonic_ns()
        for process in workers:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()  # communicate() below closes it

        killed_ns = None
        if kill is not None:
            wait_s = go_ns / 1e9 + kill.at_s - time.monotonic()
            time.sleep(max(wait_s, 0.0))  # the moment of the kill, not a check of anything
            os.kill(workers[kill.worker].pid, signal.SIGKILL)
            killed_ns = time.monotonic_ns()

        end = time.monotonic() + duration_s + GRACE_S
        summaries: list[dict[str, Any] | None] = []
        for i, process in enumerate(workers):
            try:
                out, _ = process.communicate(timeout=max(end - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"worker {i} ({backends[i]}) still running {GRACE_S} s after its "
                    f"duration:\n{_read(logs[i])}"
                ) from None
            if kill is not None and i == kill.worker:
                assert process.returncode == -signal.SIGKILL, process.returncode
                summaries.append(None)
                continue
            if process.returncode != 0:
                raise AssertionError(
                    f"worker {i} ({backends[i]}) exited {process.returncode}:\n{_read(logs[i])}"
                )
            summaries.append(json.loads(out.strip().splitlines()[-1]))
    arrivals = fetch_arrivals(base_url)
    return ClusterRun(arrivals, names, tuple(summaries), tuple(backends), go_ns, killed_ns)


def run_cluster(
    args: Sequence[str],
    *,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    kill: Kill | None = None,
    **mock_config: Any,
) -> ClusterRun:
    """A mock server with ``mock_config``, the workers of :func:`run_workers`, and the
    server stopped afterwards."""
    with mock_peer(**mock_config) as base_url:
        return run_workers(base_url, backends, args, kill=kill)


def _duration_of(args: Sequence[str]) -> float:
    values = list(args)
    if "--duration-s" in values:
        return float(values[values.index("--duration-s") + 1])
    return 3.0  # the worker's default


def _readline(process: subprocess.Popen[str], stream: IO[str], deadline: float) -> str:
    """One line of ``stream`` before ``deadline`` (``""`` if the process ended first)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return ""
        ready, _, _ = select.select([stream], [], [], min(left, 0.5))
        if ready:
            return stream.readline()
        if process.poll() is not None:
            return ""


def _read(log: IO[str]) -> str:
    log.seek(0)
    return log.read()[-4000:]


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None and not stream.closed:
            stream.close()
