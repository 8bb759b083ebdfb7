"""Issue 10, must-show 5: ``sluicegate run --concurrency 1000000`` on a 10-line file takes
the memory of ``--concurrency 10`` (peak RSS within 10 MB), because workers are started as
lines arrive, not one per unit of concurrency up front.

Each run is its own process (the in-memory mock provider, no server), reaped with
``os.wait4``, whose rusage gives that process's own peak RSS (``ru_maxrss``).

Run::

    .venv/bin/python bench/concurrency_memory.py
    .venv/bin/python bench/concurrency_memory.py --lines 10 --low 10 --high 1000000 --backend trio

Exit status: 0 when both runs wrote every line and the difference is within the limit,
1 if not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

LIMIT_MB = 10.0


def peak_rss_mb(
    input_path: Path, output: Path, concurrency: int, backend: str
) -> tuple[float, int, int]:
    """One run's peak RSS in MB, its exit status and the lines it wrote."""
    env = {key: value for key, value in os.environ.items() if key != "SLUICEGATE_MOCK_BASE_URL"}
    command = [sys.executable, "-m", "sluicegate", "run", str(input_path), "-o", str(output)]
    process = subprocess.Popen(
        [*command, "--concurrency", str(concurrency), "--no-progress", "--backend", backend],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    written = output.read_bytes().count(b"\n") if output.exists() else 0
    return usage.ru_maxrss / 1024, process.returncode, written  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--low", type=int, default=10, help="the small concurrency")
    parser.add_argument("--high", type=int, default=1_000_000, help="the large concurrency")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        source.write_text(
            "".join(
                json.dumps({"id": f"r{i}", "prompt": f"item {i}", "model": "mock/fast"}) + "\n"
                for i in range(args.lines)
            )
        )
        figures = {}
        ok = True
        for concurrency in (args.low, args.high):
            rss, code, written = peak_rss_mb(
                source, Path(tmp) / f"out-{concurrency}.jsonl", concurrency, args.backend
            )
            figures[concurrency] = rss
            print(
                f"--concurrency {concurrency:>9,}: peak RSS {rss:7.1f} MB, exit {code}, "
                f"{written}/{args.lines} lines written"
            )
            ok = ok and code == 0 and written == args.lines
    difference = figures[args.high] - figures[args.low]
    verdict = "ok" if difference <= LIMIT_MB else f"over the {LIMIT_MB:.0f} MB limit"
    print(f"difference: {difference:+.1f} MB ({verdict})")
    return 0 if ok and difference <= LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
