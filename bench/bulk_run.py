"""Must-show 3: ``sluicegate run`` over 100,000 and 10,000 lines against ``sluicegate
mock-server`` in another process; exactly N output lines, and the run's peak resident
memory, which must stay under 150 MB and not grow with the input.

Each run is its own process, reaped with ``os.wait4``, whose rusage gives that process's
peak RSS alone (``ru_maxrss``; RUSAGE_CHILDREN would mix the runs). The server's stats are
reset between runs, so its per-key counters do not carry over.

Run::

    .venv/bin/python bench/bulk_run.py                    # 10,000 and 100,000 lines
    .venv/bin/python bench/bulk_run.py --sizes 100,10000 --latency 0.005 --concurrency 64

Exit status: 0 when every run wrote exactly N lines and the memory targets hold, 1 if not.
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

RSS_LIMIT_MB = 150.0
GROWTH_LIMIT = 1.25
"""The largest run may use at most this many times the smallest's peak memory."""


@dataclass
class Measured:
    lines: int
    seconds: float
    peak_rss_mb: float
    output_lines: int
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


def server_stats(base_url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base_url}/_mock/stats", timeout=30) as answer:
        stats: dict[str, object] = json.loads(answer.read())
    return stats


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


def measure(base_url: str, workdir: Path, count: int, concurrency: int, backend: str) -> Measured:
    source = workdir / f"in-{count}.jsonl"
    output = workdir / f"out-{count}.jsonl"
    write_input(source, count)
    output.unlink(missing_ok=True)
    env = {**os.environ, "SLUICEGATE_MOCK_BASE_URL": f"{base_url}/v1"}
    command = [sys.executable, "-m", "sluicegate", "run", str(source), "-o", str(output)]
    command += ["--concurrency", str(concurrency), "--no-progress", "--backend", backend]
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    with output.open("rb") as stream:
        output_lines = sum(1 for _ in stream)
    source.unlink()
    output.unlink()
    # ru_maxrss is in kilobytes on Linux (bytes on macOS)
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return Measured(count, seconds, usage.ru_maxrss / scale, output_lines, process.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="Line counts, comma-separated.")
    parser.add_argument("--latency", type=float, default=0.005, help="Mock server latency (s).")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    server, base_url = start_server(args.latency)
    results: list[Measured] = []
    try:
        with tempfile.TemporaryDirectory(prefix="sluicegate-bulk-") as tmp:
            for count in sizes:
                reset_server(base_url)
                result = measure(base_url, Path(tmp), count, args.concurrency, args.backend)
                charged = server_stats(base_url)["succeeded"]
                results.append(result)
                print(
                    f"{count:>9,} lines: {result.output_lines:>9,} written, exit "
                    f"{result.exit_code}, {result.seconds:7.1f} s ({result.rate:6,.0f} lines/s), "
                    f"peak RSS {result.peak_rss_mb:6.1f} MB, server charged {charged}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(10)

    ok = True
    for result in results:
        if result.output_lines != result.lines or result.exit_code != 0:
            print(
                f"FAIL: {result.lines:,} lines gave {result.output_lines:,} lines, "
                f"exit {result.exit_code}"
            )
            ok = False
        if result.peak_rss_mb >= RSS_LIMIT_MB:
            print(f"FAIL: {result.lines:,} lines peaked at {result.peak_rss_mb:.1f} MB")
            ok = False
    smallest, largest = min(results, key=lambda r: r.lines), max(results, key=lambda r: r.lines)
    growth = largest.peak_rss_mb / smallest.peak_rss_mb
    print(
        f"peak RSS {largest.lines:,} vs {smallest.lines:,} lines: x{growth:.2f} "
        f"(limit x{GROWTH_LIMIT}); limit {RSS_LIMIT_MB:.0f} MB per run"
    )
    if growth > GROWTH_LIMIT:
        print("FAIL: memory grows with the input")
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
