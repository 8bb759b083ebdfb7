"""Must-show 4 of the batch issue: peak resident memory while collecting 100,000 batch
results stays under 150 MB.

``sluicegate mock-server`` runs in its own process with both batch APIs. For each provider
(the OpenAI format through the mock provider, Anthropic's Message Batches through the
plugin), 100,000 lines are submitted (``sluicegate batch submit``, 50,000 a job: the
OpenAI limit, so two jobs), the jobs are left to end, and then a separate process collects
them (``sluicegate batch results``): it downloads each job's result file as a stream,
decodes it line by line, and writes 100,000 output lines. That process is reaped with
``os.wait4``, whose rusage is its own peak RSS. The submitting process is measured too,
and so is one ``sluicegate run --mode batch`` doing all of it in one process.

Run::

    .venv/bin/python bench/batch_collect.py                    # 100,000 lines, both providers
    .venv/bin/python bench/batch_collect.py --lines 20000 --providers mock

Exit status: 0 when every output has exactly one line per id and every collecting
process stayed under 150 MB, 1 if not.
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
MODELS = {"mock": "mock/fast", "anthropic": "anthropic/claude-haiku-4-5"}
WIRE = {"mock": "openai", "anthropic": "anthropic"}
SERVER = [sys.executable, "-m", "sluicegate", "mock-server"]


@dataclass
class Measured:
    what: str
    seconds: float
    peak_rss_mb: float
    exit_code: int


def start_server(batch_seconds: float) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [*SERVER, "--port", "0", "--batch-seconds", str(batch_seconds)],
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


def server_stats(base_url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base_url}/_mock/stats", timeout=60) as answer:
        stats: dict[str, object] = json.loads(answer.read())
    return stats


def write_input(path: Path, count: int, model: str) -> None:
    with path.open("w") as stream:
        for i in range(count):
            line = {
                "id": f"row-{i:07d}",
                "prompt": f"Summarise review number {i}: the product arrived on time.",
                "model": model,
                "max_tokens": 32,
            }
            stream.write(json.dumps(line) + "\n")


def timed(what: str, command: list[str], env: dict[str, str]) -> Measured:
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: KB on Linux
    return Measured(what, seconds, usage.ru_maxrss / scale, process.returncode)


def output_ids_once(path: Path, count: int) -> bool:
    seen: set[str] = set()
    with path.open("rb") as stream:
        for raw in stream:
            record = json.loads(raw)
            if record["id"] in seen or "response" not in record:
                return False
            seen.add(record["id"])
    return len(seen) == count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--providers", default="mock,anthropic")
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--batch-seconds", type=float, default=3.0)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args(argv)
    providers = [p for p in args.providers.split(",") if p]

    server, base_url = start_server(args.batch_seconds)
    env = {
        **os.environ,
        "SLUICEGATE_MOCK_BASE_URL": f"{base_url}/v1",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "bench-key-not-secret",
    }
    sluicegate = [sys.executable, "-m", "sluicegate"]
    common = ["--no-progress", "--backend", args.backend, "--poll-interval", "0.2"]
    sized = ["--batch-size", str(args.batch_size), *common]
    ok = True
    try:
        with tempfile.TemporaryDirectory(prefix="sluicegate-batch-") as tmp:
            for provider in providers:
                source = Path(tmp) / f"in-{provider}.jsonl"
                write_input(source, args.lines, MODELS[provider])
                out = Path(tmp) / f"out-{provider}.jsonl"
                submit = timed(
                    "submit",
                    [*sluicegate, "batch", "submit", str(source), "-o", str(out), *sized],
                    env,
                )
                wait = timed("wait", [*sluicegate, "batch", "wait", str(out), *common], env)
                collect = timed(
                    "collect", [*sluicegate, "batch", "results", str(out), *common], env
                )
                whole_out = Path(tmp) / f"whole-{provider}.jsonl"
                whole = timed(
                    "run --mode batch",
                    [
                        *sluicegate,
                        "run",
                        str(source),
                        "-o",
                        str(whole_out),
                        "--mode",
                        "batch",
                        *sized,
                    ],
                    env,
                )
                good = output_ids_once(out, args.lines) and output_ids_once(whole_out, args.lines)
                created = server_stats(base_url)["batches"][WIRE[provider]]["created"]  # type: ignore[index]
                for measured in (submit, wait, collect, whole):
                    print(
                        f"{provider:>9} {measured.what:>16}: {args.lines:,} lines, exit "
                        f"{measured.exit_code}, {measured.seconds:6.1f} s, peak RSS "
                        f"{measured.peak_rss_mb:6.1f} MB",
                        flush=True,
                    )
                print(f"{provider:>9} outputs: one line per id: {good}; jobs created {created}")
                codes = {submit.exit_code, wait.exit_code, collect.exit_code, whole.exit_code}
                if not good or codes != {0}:
                    print(f"FAIL: {provider}: outputs or exit codes wrong ({codes})")
                    ok = False
                for measured in (collect, whole):
                    if measured.peak_rss_mb >= RSS_LIMIT_MB:
                        print(
                            f"FAIL: {provider} {measured.what} peaked at "
                            f"{measured.peak_rss_mb:.1f} MB (limit {RSS_LIMIT_MB:.0f})"
                        )
                        ok = False
                source.unlink()
    finally:
        server.terminate()
        server.wait(10)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
