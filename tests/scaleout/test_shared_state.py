"""Issue 12, item 2, between real processes on both event loops, judged by the mock
server's own record: a circuit opened in one process fails fast in another; a budget
shared by four processes is never exceeded (what the server answered, priced, is within
it); an idempotency key sent from four processes at once reaches the server once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from realpeers.redis import RedisServer
from scaleout.cluster import DEFAULT_BACKENDS, mock_peer, run_workers


@pytest.fixture(scope="module")
def slow_mock_url() -> Iterator[str]:
    """A mock whose answers take long enough for four processes to overlap, and whose
    model ``broken`` answers every request 503."""
    with mock_peer(latency_s=0.4, fault_windows=["0::overloaded:broken"]) as url:
        yield url


def test_a_circuit_opened_in_one_process_fails_fast_in_another(
    slow_mock_url: str, redis_peer: RedisServer
) -> None:
    from scaleout.cluster import reset_server

    reset_server(slow_mock_url)
    breaker = ["--breaker-min", "4", "--breaker-break-s", "30", "--no-retry"]
    run = run_workers(
        slow_mock_url,
        ("asyncio", "trio"),
        ["--model", "mock/broken", "--store", redis_peer.url, "--tasks", "1", *breaker],
        duration_s=3.5,
        # the first opens its circuit after four answers of 0.4 s: by 1.6 s
        extra=[["--duration-s", "3.5"], ["--duration-s", "1", "--start-after-s", "2.2"]],
    )
    first, second = run.summaries
    assert first is not None and second is not None
    # the first process found the model failing and opened its circuit
    assert first["errors"].get("ProviderError", 0) >= 4
    assert first["errors"].get("CircuitOpenError", 0) > 0
    # the second, starting after that, never reached the server
    assert run.arrivals.by_client[run.names[1]] == 0
    assert second["errors"].get("CircuitOpenError", 0) == second["sent"] > 0


def test_four_processes_never_spend_past_the_budget_they_share(
    slow_mock_url: str, redis_peer: RedisServer
) -> None:
    from scaleout.cluster import reset_server

    reset_server(slow_mock_url)
    price = 1000.0  # USD per million tokens, input and output: 22 tokens cost $0.022
    budget = 0.5
    run = run_workers(
        slow_mock_url,
        DEFAULT_BACKENDS,
        [
            "--store", redis_peer.url, "--budget", str(budget), "--price-per-mtok", str(price),
            "--tasks", "4", "--duration-s", "4", "--no-retry",
        ],
    )  # fmt: skip
    tokens = sum(run.arrivals.tokens)
    server_spend = tokens * price / 1e6
    assert server_spend <= budget
    refused = sum((s or {}).get("errors", {}).get("BudgetExceededError", 0) for s in run.summaries)
    assert refused > 0  # the budget, not the run's length, ended the spending
    assert server_spend >= 0.5 * budget
    spent = sum((s or {}).get("spent") or 0.0 for s in run.summaries)
    assert spent == pytest.approx(server_spend)


def test_one_idempotency_key_from_four_processes_reaches_the_server_once(
    slow_mock_url: str, redis_peer: RedisServer
) -> None:
    from scaleout.cluster import reset_server

    reset_server(slow_mock_url)
    run = run_workers(
        slow_mock_url,
        DEFAULT_BACKENDS,
        [
            "--store", redis_peer.url, "--idempotency-key", "invoice-2026-12-02",
            "--requests", "1", "--tasks", "1", "--duration-s", "5",
        ],
    )  # fmt: skip
    assert len(run.arrivals.times_ns) == 1
    assert all(s is not None and s["ok"] == 1 for s in run.summaries)
