"""``sluicegate run`` against nginx's ``limit_req`` (20 r/s, burst 2) in front of the mock
server: a rate limiter sluicegate did not write, judged by nginx's own access log.

The targets come from the rate-limit issue: told the real limit (``--rpm 1200``), a run
must never be refused and must take no longer than an exact client at that rate (within
5 %); told twice the limit, or nothing at all, it must learn the limit from the 429s,
keep them to 2 % of its attempts and stay within 10 % of the exact client's time. Every
line must be answered in all three.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulk.processes import mock_server, write_input
from realpeers.nginx import AccessLog, limit_req_proxy, require_nginx

RATE = 20
"""nginx's limit, requests per second (1200 a minute)."""
BURST = 2
LINES = 400
CONCURRENCY = 32
UPSTREAM_LATENCY_S = 0.02
RUN_TIMEOUT_S = 120.0
MODEL = "openai/gpt-4.1-mini"

IDEAL_S = (LINES - 1 - BURST) / RATE + UPSTREAM_LATENCY_S
"""What an exact client at the limiter's rate needs: the first ``1 + BURST`` requests go at
once, every later one waits its 1/RATE slot, and the last answer takes one latency."""

CASES = {
    # name: (extra arguments, largest share of 429s among attempts, smallest ideal/duration)
    "rpm-at-limit": (["--rpm", str(RATE * 60)], 0.0, 0.95),
    "rpm-twice-limit": (["--rpm", str(RATE * 60 * 2)], 0.02, 0.90),
    "no-rpm": ([], 0.02, 0.90),
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    require_nginx()  # skip before starting anything
    with mock_server("--latency", str(UPSTREAM_LATENCY_S)) as base_url:
        yield base_url


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("case", list(CASES))
def test_run_behind_nginx_limit_req(upstream: str, tmp_path: Path, case: str, backend: str) -> None:
    extra, max_429_share, min_efficiency = CASES[case]
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, LINES, model=MODEL)
    with limit_req_proxy(upstream, tmp_path / "nginx", rate=RATE, burst=BURST) as nginx:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": f"{nginx.base_url}/v1",
            "OPENAI_API_KEY": "sk-test-realpeers-nginx",
        }
        command = [sys.executable, "-m", "sluicegate", "run", str(source), "-o", str(output)]
        command += ["--model", MODEL, "--concurrency", str(CONCURRENCY), *extra]
        command += ["--backend", backend, "--no-progress"]
        run = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
        )
    log = AccessLog.read(nginx.access_log)  # complete: nginx has stopped

    records = [json.loads(line) for line in output.read_text().splitlines()]
    answered = {r["id"] for r in records if "response" in r and not r.get("error")}
    errors = [r for r in records if r.get("error")]
    refused = log.statuses[429]
    share = refused / log.attempts if log.attempts else 0.0
    ratio = IDEAL_S / log.duration if log.duration else 0.0
    print(
        f"\n[{case}, {backend}] exit {run.returncode}; answered {len(answered)}/{LINES}, "
        f"error lines {len(errors)}; nginx: attempts {log.attempts}, "
        f"429s {refused} ({share:.1%}), statuses {dict(sorted(log.statuses.items()))}, "
        f"duration {log.duration:.2f} s, ideal {IDEAL_S:.2f} s, ideal/duration {ratio:.3f}"
    )

    kinds = Counter(e["error"]["type"] for e in errors)
    assert answered == set(ids), f"{LINES - len(answered)} ids unanswered: {dict(kinds)}; " + (
        json.dumps(errors[0]["error"] if errors else None)
    )
    assert refused <= max_429_share * log.attempts, (
        f"{refused} of {log.attempts} attempts refused with 429 "
        f"(at most {max_429_share:.0%} allowed)"
    )
    assert log.duration <= IDEAL_S / min_efficiency, (
        f"took {log.duration:.2f} s on nginx's clock; an exact client needs {IDEAL_S:.2f} s "
        f"(allowed up to {IDEAL_S / min_efficiency:.2f} s)"
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
