"""``sluicegate run`` over 10,000, 100,000 and 1,000,000 lines against ``sluicegate
mock-server`` in another process, on asyncio and on trio: exactly N output lines, lines/s,
and the run's peak resident memory, which must stay at or under 120 MB and within 1.2x of
the 10,000-line run's (issue 14: at most ~16 bytes per already-answered id). Each run is
followed by its resume (the same command again: every id is already answered, so it only
reads the output's ids), whose peak memory is what remembering N ids costs.

Each run is its own process, reaped with ``os.wait4``, whose rusage gives that process's
peak RSS alone (``ru_maxrss``; RUSAGE_CHILDREN would mix the runs). The server's stats are
reset between runs, so its per-key counters do not carry over.

Run::

    .venv/bin/python bench/bulk_run.py                    # 10k, 100k and 1M lines, both loops
    .venv/bin/python bench/bulk_run.py --sizes 100,10000 --backends trio --concurrency 64

Exit status: 0 when every run wrote exactly N lines, none of them an error, and the
memory targets hold; 1 if not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

RSS_LIMIT_MB = 120.0
GROWTH_LIMIT = 1.2
"""The largest run may use at most this many times the smallest's peak memory."""


@dataclass
class Measured:
    lines: int
    seconds: float
    peak_rss_mb: float
    output_lines: int
    error_lines: int
    """Output lines that are errors, not answers (a healthy run against the mock has none)."""
    exit_code: int

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sluicegate",
            "mock-server",
            "--port",
            "0",
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    first = server.stdout.readline()
    if "listening on " not in first:
        server.kill()
        raise SystemExit(f"the mock server did not start: {first!r}")
    return server, first.rsplit(" ", 1)[1].strip()


def reset_server(base_url: str) -> None:
    request = urllib.request.Request(f"{base_url}/_mock/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def server_charged(base_url: str) -> object:
    """The server's count of answers it charged for, read in a child process: the stats
    body names every key the server saw (tens of MB after a million lines), and this
    process must stay small, because a child's peak RSS on Linux starts from its parent's
    at fork (ru_maxrss is kept across exec) and every run is a child of this one."""
    code = (
        "import json, sys, urllib.request\n"
        "with urllib.request.urlopen(sys.argv[1] + '/_mock/stats', timeout=30) as answer:\n"
        "    print(json.dumps(json.loads(answer.read())['succeeded']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, base_url], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def write_input(path: Path, count: int) -> None:
    with path.open("w") as stream:
        for i in range(count):
            stream.write(
                json.dumps(
                    {
                        "id": f"row-{i:07d}",
                        "prompt": f"Summarise review number {i}: the product arrived on time.",
                        "model": "mock/fast",
                        "max_tokens": 32,
                    }
                )
                + "\n"
            )


def measure(
    base_url: str, workdir: Path, count: int, concurrency: int, backend: str
) -> tuple[Measured, Measured]:
    """The run, then its resume."""
    source = workdir / f"in-{count}.jsonl"
    output = workdir / f"out-{count}.jsonl"
    write_input(source, count)
    output.unlink(missing_ok=True)
    first = _run(base_url, source, output, count, concurrency, backend)
    again = _run(base_url, source, output, count, concurrency, backend)
    source.unlink()
    output.unlink()
    return first, again


def _run(
    base_url: str, source: Path, output: Path, count: int, concurrency: int, backend: str
) -> Measured:
    env = {**os.environ, "SLUICEGATE_MOCK_BASE_URL": f"{base_url}/v1"}
    command = [sys.executable, "-m", "sluicegate", "run", str(source), "-o", str(output)]
    command += ["--concurrency", str(concurrency), "--no-progress", "--backend", backend]
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    output_lines = error_lines = 0
    with output.open("rb") as stream:
        for line in stream:
            output_lines += 1
            error_lines += b'"error":{' in line
    # ru_maxrss is in kilobytes on Linux (bytes on macOS)
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return Measured(
        count, seconds, usage.ru_maxrss / scale, output_lines, error_lines, process.returncode
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="Line counts, comma-separated."
    )
    parser.add_argument("--latency", type=float, default=0.005, help="Mock server latency (s).")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--backends", default="asyncio,trio", help="comma-separated")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    server, base_url = start_server(args.latency)
    results: dict[str, list[tuple[Measured, Measured]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="sluicegate-bulk-") as tmp:
            for backend in args.backends.split(","):
                runs = results[backend] = []
                for count in sizes:
                    reset_server(base_url)
                    first, again = measure(base_url, Path(tmp), count, args.concurrency, backend)
                    charged = server_charged(base_url)
                    runs.append((first, again))
                    print(
                        f"{backend:>7} {count:>9,} lines: {first.output_lines:>9,} written "
                        f"({first.error_lines:,} errors), exit "
                        f"{first.exit_code}, {first.seconds:7.1f} s ({first.rate:6,.0f} lines/s), "
                        f"peak RSS {first.peak_rss_mb:6.1f} MB; resume: exit {again.exit_code}, "
                        f"{again.seconds:5.1f} s, peak RSS {again.peak_rss_mb:6.1f} MB; "
                        f"server charged {charged}",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait(10)

    ok = True
    for backend, runs in results.items():
        base_first, base_again = runs[0]
        print(f"\n{backend}: peak RSS over the {base_first.lines:,}-line run's")
        for first, again in runs:
            if (
                first.output_lines != first.lines
                or first.error_lines
                or first.exit_code != 0
                or again.exit_code
            ):
                print(
                    f"  FAIL: {first.lines:,} lines gave {first.output_lines:,} lines "
                    f"({first.error_lines:,} errors), "
                    f"exit {first.exit_code} (resume {again.exit_code})"
                )
                ok = False
            growth = first.peak_rss_mb / base_first.peak_rss_mb
            resume_growth = again.peak_rss_mb / base_again.peak_rss_mb
            fits = (
                growth <= GROWTH_LIMIT
                and resume_growth <= GROWTH_LIMIT
                and max(first.peak_rss_mb, again.peak_rss_mb) <= RSS_LIMIT_MB
            )
            ok = ok and fits
            print(
                f"  {'PASS' if fits else 'FAIL'} {first.lines:>9,} lines: run x{growth:.2f} "
                f"({first.peak_rss_mb:.1f} MB), resume x{resume_growth:.2f} "
                f"({again.peak_rss_mb:.1f} MB), {first.rate:,.0f} lines/s "
                f"(limits x{GROWTH_LIMIT}, {RSS_LIMIT_MB:.0f} MB)"
            )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
