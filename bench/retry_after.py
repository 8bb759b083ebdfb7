"""How long 429s cost: ``sluicegate run`` against the official openai SDK, same server,
same prompts, same faults, in one run.

Why: a client that mishandles a 429 without a usable ``Retry-After`` either hammers the
server or sleeps far longer than it must, and neither shows in unit tests, which use
virtual time. So each scenario is run for real, against ``sluicegate mock-server`` in
another process, and compared with the peer most people use, the openai SDK
(``max_retries=3``), whose retry rules (honour ``retry-after-ms`` / ``Retry-After`` when
between 0 and 60 s, else its own 0.5 s doubling backoff) are the baseline.

Each client is its own process (interpreter start-up and imports counted for both), given
the same 200 prompts at concurrency 16. The server's fault plan is reset before each run,
with the same seed, so both clients meet the same faults in the same arrival order:

- ``clean``: no faults;
- ``bare+zero``: one ``rate_limit_bare`` 429 (no ``Retry-After``) and one
  ``rate_limit_zero`` 429 (``Retry-After: 0``), at requests 21 and 102;
- ``random-429``: 20 % of requests get a 429 asking for 1 s (``rate_limit``).

Targets (from the issue), printed PASS/FAIL and never asserted in a test: ``bare+zero``
adds less than 3 s to sluicegate's ``clean`` time; in ``random-429`` sluicegate takes at
most 2x the SDK's time with every line answered.

Run::

    .venv/bin/python bench/retry_after.py                # ~1 minute
    .venv/bin/python bench/retry_after.py --repeats 3    # medians of 3
    .venv/bin/python bench/retry_after.py --mock-url http://127.0.0.1:8765  # a running mock

Exit status: 0 when every target holds, 1 if one fails, 2 if a scenario could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulk_run import server_stats, start_server
from http_clients import code_state

SCENARIOS: dict[str, dict[str, Any]] = {
    "clean": {},
    # Early, but after the first few answers, as a limit met mid-run would be.
    "bare+zero": {"script": [None] * 20 + ["rate_limit_bare"] + [None] * 80 + ["rate_limit_zero"]},
    "random-429": {"rates": {"rate_limit": 0.2}},
}
CLIENTS = ("sluicegate", "openai-sdk")
API_KEY = "sk-test-bench-retry-after"
RUN_TIMEOUT_S = 300.0


@dataclass
class Measured:
    scenario: str
    client: str
    seconds: float
    answered: int
    requests_seen: int
    """Requests the server received (answers plus faults): the retries' cost to it."""
    statuses: dict[str, int]
    errors: dict[str, int] = field(default_factory=dict)
    """Lines not answered, by error type (sluicegate's error lines, the SDK's exceptions)."""


def reset(base_url: str, plan: dict[str, Any], seed: int) -> str | None:
    """Replace the server's fault plan; an error text when it refuses it (a fault kind
    this mock does not know yet), else None."""
    body = json.dumps({**plan, "seed": seed}).encode()
    request = urllib.request.Request(
        f"{base_url}/_mock/reset",
        data=body,
        method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read().decode(errors='replace')[:200]}"


def write_prompts(path: Path, count: int) -> None:
    with path.open("w") as stream:
        for i in range(count):
            line = {"id": f"p{i:04d}", "prompt": f"Summarise ticket {i}.", "max_tokens": 32}
            stream.write(json.dumps(line) + "\n")


def run_sluicegate(
    base_url: str, prompts: Path, workdir: Path, concurrency: int
) -> tuple[int, dict[str, int]]:
    output = workdir / "sluicegate-out.jsonl"
    output.unlink(missing_ok=True)  # a leftover output would make the run a resume
    command = [sys.executable, "-m", "sluicegate", "run", str(prompts), "-o", str(output)]
    command += ["--model", "openai/x", "--concurrency", str(concurrency), "--no-progress"]
    env = {**os.environ, "OPENAI_BASE_URL": f"{base_url}/v1", "OPENAI_API_KEY": API_KEY}
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, timeout=RUN_TIMEOUT_S)
    records = [json.loads(line) for line in output.read_text().splitlines()]
    errors = Counter(r["error"]["type"] for r in records if r.get("error"))
    return sum(1 for r in records if r.get("response") and not r.get("error")), dict(errors)


def run_sdk(base_url: str, prompts: Path, concurrency: int) -> tuple[int, dict[str, int]]:
    command = [sys.executable, __file__, "--sdk-worker", base_url, str(prompts)]
    command += ["--concurrency", str(concurrency)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"SDK worker failed: {done.stderr[-2000:]}")
    counts = json.loads(done.stdout)
    return int(counts["answered"]), {str(k): int(v) for k, v in counts["errors"].items()}


def sdk_worker(base_url: str, prompts: Path, concurrency: int) -> None:
    """The openai SDK's side: ``concurrency`` tasks pulling prompts from one iterator,
    each answer's text read; prints ``{"answered": n, "errors": {type: n}}``."""
    import anyio
    import openai

    lines = [json.loads(line) for line in prompts.read_text().splitlines()]
    answered = 0
    errors: Counter[str] = Counter()

    async def main() -> None:
        client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=3)
        pending = iter(lines)

        async def worker() -> None:
            for line in pending:  # shared: each line is taken by one worker
                nonlocal answered
                try:
                    answer = await client.chat.completions.create(
                        model="x",
                        messages=[{"role": "user", "content": line["prompt"]}],
                        max_tokens=line["max_tokens"],
                    )
                except openai.APIError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                if answer.choices[0].message.content:
                    answered += 1
                else:
                    errors["empty answer"] += 1

        async with client, anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker)

    anyio.run(main)
    print(json.dumps({"answered": answered, "errors": errors}))


def measure(
    base_url: str, scenario: str, client: str, prompts: Path, workdir: Path, args: Any
) -> Measured | str:
    refused = reset(base_url, SCENARIOS[scenario], args.seed)
    if refused:
        return refused
    started = time.monotonic()
    if client == "sluicegate":
        answered, errors = run_sluicegate(base_url, prompts, workdir, args.concurrency)
    else:
        answered, errors = run_sdk(base_url, prompts, args.concurrency)
    seconds = time.monotonic() - started
    stats = server_stats(base_url)
    by_status = stats.get("by_status", {})
    statuses = {str(k): int(v) for k, v in by_status.items()} if isinstance(by_status, dict) else {}
    seen = stats.get("requests", 0)
    return Measured(scenario, client, seconds, answered, int(str(seen)), statuses, errors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.02, help="mock latency, s [0.02]")
    parser.add_argument("--repeats", type=int, default=1, help="runs per median [1]")
    parser.add_argument("--seed", type=int, default=0, help="fault draws' seed [0]")
    parser.add_argument(
        "--mock-url",
        default=None,
        help="use this running mock server (e.g. another version's) instead of starting one",
    )
    parser.add_argument("--sdk-worker", nargs=2, metavar=("BASE_URL", "PROMPTS"), help="internal")
    args = parser.parse_args(argv)
    if args.sdk_worker:
        sdk_worker(args.sdk_worker[0], Path(args.sdk_worker[1]), args.concurrency)
        return 0

    print(
        f"{args.prompts} prompts, concurrency {args.concurrency}, mock latency "
        f"{args.latency * 1000:g} ms, medians of {args.repeats}; each client its own process."
    )
    code = code_state()
    print(f"sluicegate: HEAD {code['head']}, src digest {code['src_digest']}.")
    server, base_url = (None, args.mock_url) if args.mock_url else start_server(args.latency)
    runs: dict[tuple[str, str], list[Measured]] = {}
    missing: dict[str, str] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="sluicegate-retry-after-") as tmp:
            workdir = Path(tmp)
            prompts = workdir / "prompts.jsonl"
            write_prompts(prompts, args.prompts)
            for repeat in range(args.repeats):
                for scenario in SCENARIOS:
                    for client in CLIENTS:  # interleaved, so drift hits both alike
                        if scenario in missing:
                            continue
                        result = measure(base_url, scenario, client, prompts, workdir, args)
                        if isinstance(result, str):
                            missing[scenario] = result
                            print(f"  {scenario}: not run, the mock refused its plan: {result}")
                            continue
                        runs.setdefault((scenario, client), []).append(result)
                        print(
                            f"  [{repeat + 1}/{args.repeats}] {scenario:<10} {client:<10} "
                            f"{result.seconds:6.2f} s, {result.answered}/{args.prompts} "
                            f"answered, server saw {result.requests_seen} requests "
                            f"{result.statuses}"
                            + (f", errors {result.errors}" if result.errors else ""),
                            flush=True,
                        )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    def median(scenario: str, client: str) -> Measured | None:
        group = runs.get((scenario, client))
        if not group:
            return None
        seconds = statistics.median(m.seconds for m in group)
        return Measured(
            scenario,
            client,
            seconds,
            min(m.answered for m in group),
            max(m.requests_seen for m in group),
            group[-1].statuses,
            group[-1].errors,
        )

    print(
        "\n| scenario | sluicegate s | openai SDK s | ratio sg/SDK | answered sg | "
        "answered SDK | requests sg | requests SDK | errors sg |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    table: dict[str, tuple[Measured, Measured]] = {}
    for scenario in SCENARIOS:
        ours, theirs = median(scenario, "sluicegate"), median(scenario, "openai-sdk")
        if ours is None or theirs is None:
            print(f"| {scenario} | not run | | | | | | | |")
            continue
        table[scenario] = (ours, theirs)
        print(
            f"| {scenario} | {ours.seconds:.2f} | {theirs.seconds:.2f} | "
            f"{ours.seconds / theirs.seconds:.2f}x | {ours.answered}/{args.prompts} | "
            f"{theirs.answered}/{args.prompts} | {ours.requests_seen} | {theirs.requests_seen} | "
            f"{', '.join(f'{k} {v}' for k, v in ours.errors.items()) or '-'} |"
        )

    print("\nTargets:")
    verdicts: list[bool | None] = []

    def target(description: str, passed: bool | None, detail: str) -> None:
        verdicts.append(passed)
        print(f"  {({True: 'PASS', False: 'FAIL', None: 'SKIP'})[passed]}  {description}: {detail}")

    if "clean" in table and "bare+zero" in table:
        added = table["bare+zero"][0].seconds - table["clean"][0].seconds
        target("bare+zero adds < 3 s over clean (sluicegate)", added < 3.0, f"+{added:.2f} s")
    else:
        target("bare+zero adds < 3 s over clean (sluicegate)", None, "not measured")
    if "random-429" in table:
        ours, theirs = table["random-429"]
        ratio = ours.seconds / theirs.seconds
        target(
            "random-429: sluicegate <= 2x the SDK, every line answered",
            ratio <= 2.0 and ours.answered == args.prompts,
            f"{ratio:.2f}x, {ours.answered}/{args.prompts} answered",
        )
    else:
        target("random-429: sluicegate <= 2x the SDK, every line answered", None, "not measured")
    code_after = code_state()
    if code_after["src_digest"] != code["src_digest"]:
        print(
            f"WARNING: src/sluicegate changed during the run (digest {code['src_digest']} → "
            f"{code_after['src_digest']}); the runs measured a mix of versions."
        )
    if missing:
        return 2
    return 1 if False in verdicts else 0


if __name__ == "__main__":
    raise SystemExit(main())
