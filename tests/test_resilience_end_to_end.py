"""Resilience end to end: 2,000 requests through the default chain against the mock server
over real loopback sockets, with 30% of attempts faulted (429, 500, 503, cut connections,
hangs), on asyncio and on trio.

What it shows, from the server's own counters rather than the client's word:

- nothing is lost: every request ends with a Response or a typed ``SluicegateError``;
- no request is answered successfully twice: each idempotency key (one per logical
  request, sent on every attempt) has at most one success on the server and is never
  replayed from the server's idempotency record, and the server's successes are exactly
  the client's;
- retries stay within what the retry budget guarantees (:func:`budget_bound`), and the
  budget is what stopped some of them, so the bound is checked where it binds.

Real sockets mean real time: the settings below are what a user would pick for a fast run
(a short read timeout, millisecond backoff, a mock that asks for a 20 ms Retry-After), so
each backend takes a few seconds of wall time.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from sluicegate import (
    BreakerPolicy,
    CircuitOpenError,
    Client,
    ProviderSettings,
    RateLimits,
    RequestTimeoutError,
    Response,
    RetryPolicy,
    SluicegateError,
    hookimpl,
)
from sluicegate.plugins import AttemptFailed
from sluicegate.testing import FaultPlan, MockConfig, serve_mock

pytestmark = pytest.mark.anyio

KEY = "sk-e2e-resilience-0123456789abcd"
MODEL = "openai/gpt-mock"
REQUESTS = 2000
CONCURRENCY = 32
"""Requests in flight. The server shares the test's event loop and CPU, so in-flight
requests queue for it: at 32 the slowest healthy answer measured ~0.15-0.2 s on trio (on a
busy two-core machine), against ~0.5 s at 64 and timeouts at 128."""
MAX_TOKENS = 8
"""Short answers: a streamed answer costs a server write and a client read per token,
which on trio (hypercorn and httpx2) is most of the run's CPU time."""

FAULT_RATES = {
    "rate_limit": 0.06,
    "server_error": 0.06,
    "overloaded": 0.06,
    "cut_stream": 0.06,
    "hang": 0.06,
}
"""30% of attempts faulted, in equal parts; drawn per attempt, so retries are faulted too."""

READ_TIMEOUT_S = 1.0
"""Turns a ``hang`` into a retryable timeout within a second, yet is five times the
slowest healthy answer, so a busy CPU does not cut one: a healthy answer timed out after
the server counted it would be sent again, which this test would report as a key
answered twice."""

RETRY_AFTER_S = 0.02
"""What the mock's 429s ask for (``retry-after-ms: 20``; ``Retry-After`` rounds it up to
1 s, but the client reads the millisecond header first), so neither the retry's wait nor
the rate limiter's hold on the model is a whole second."""

RETRY = RetryPolicy(attempts=4, base=0.01, cap=0.1, max_retry_after=0.1)
"""Millisecond backoff; the budget (20% of requests plus 10 retries/s over 10 s) is the
default, so it is the default guarantee that is checked."""

BREAKER = BreakerPolicy(min_throughput=100)
"""The default breaker, except that it judges no earlier than 100 calls: with the default
20, ten or more failures among the first 20 attempts happen with probability ~5% at a 30%
fault rate and would open the circuit (a flaky test); with 100, half of them failing has
a probability of ~2e-5. A 30% rate is a flaky provider, not a dead one: it must not trip."""

RATE_LIMIT = RateLimits()
"""The default adaptive limiter, with no floor. The injected 429s come at random, whatever
the rate (6% of attempts); the limiter reads them as sporadic, not congestion, since they
stay under its ``refusal_share`` of recent requests, so it does not slow down (plain AIMD
cut the rate to ~1 request/s here); it still holds the model for each Retry-After."""

RESILIENCE_STAGES = [
    "logging",
    "deadline",
    "idempotency",
    "fallback",
    "retry",
    "breaker",
    "rate_limit",
    "auth",
]


@dataclass
class Outcomes:
    """What the client saw, request by request."""

    responses: dict[int, Response] = field(default_factory=dict)
    errors: dict[int, Exception] = field(default_factory=dict)
    keys: dict[int, str] = field(default_factory=dict)
    """Caller-given idempotency keys, by request index."""
    timed_out: Counter[str] = field(default_factory=Counter)
    """Attempts that timed out, by idempotency key (an ``attempt_failed`` observer)."""

    @hookimpl
    def sluicegate_attempt_failed(self, event: AttemptFailed) -> None:
        key = event.request.metadata.idempotency_key
        if isinstance(event.error, RequestTimeoutError) and key is not None:
            self.timed_out[key] += 1


def budget_bound(requests: int, duration_s: float, policy: RetryPolicy) -> int:
    """The most retries :class:`~sluicegate.retry.budget.RetryBudget` lets through in a
    run of ``requests`` lasting ``duration_s``.

    At every retry the budget's window (``slots`` slots of ``window / slots`` seconds,
    ending at the retry's slot) must hold ``ratio`` per request deposited in it, plus the
    reserve ``min_per_second · window``, minus the retries already taken in it. Windows
    that end at a retry and do not overlap cover every retry; a run that spans ``n``
    slots needs ``ceil(n / slots)`` of them, and each holds its own deposits, so::

        retries <= ratio · requests + ceil(n / slots) · min_per_second · window

    with ``n <= floor(D / slot width) + 2`` for a run of ``D`` seconds. This is the
    module docstring's ``ratio · requests + min_per_second · (D + window + window /
    slots)`` with the rounding kept: a run shorter than ``window - window / slots`` gets
    one reserve, not a reserve and a half.
    """
    assert policy.budget_ratio is not None
    slots = 10  # RetryPolicy.budget() keeps RetryBudget's default
    width = policy.budget_window / slots
    windows = math.ceil((math.floor(duration_s / width) + 2) / slots)
    reserve = policy.budget_min_per_second * policy.budget_window
    # the budget counts in thousandths of a retry (integers), so this is exact
    return (round(policy.budget_ratio * 1000) * requests + windows * round(reserve * 1000)) // 1000


def give_up_reason(error: BaseException) -> str:
    """Why the retry stage stopped, from the note it adds to the error it re-raises."""
    for note in getattr(error, "__notes__", ()):
        if "retry budget is spent" in note:
            return "budget spent"
        if "no attempts left" in note:
            return "attempts spent"
    return "not retryable"


async def run_requests(client: Client, outcomes: Outcomes) -> None:
    """Send every request, at most ``CONCURRENCY`` at a time: even indices plain, odd
    streamed; half of each with a caller-given key, the rest with generated ones."""
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def one(index: int) -> None:
        params: dict[str, Any] = {"max_tokens": MAX_TOKENS}
        if index % 4 < 2:
            params["idempotency_key"] = outcomes.keys[index] = f"e2e-{index}"
        prompt = f"Request {index}: what is the capital of France?"
        async with limiter:
            try:
                if index % 2 == 0:
                    response = await client.chat(MODEL, prompt, **params)
                else:
                    async with client.stream(MODEL, prompt, **params) as stream:
                        response = await stream.final_response()
            except Exception as exc:  # kept, and asserted typed, below
                outcomes.errors[index] = exc
            else:
                outcomes.responses[index] = response

    async with anyio.create_task_group() as group:
        for index in range(REQUESTS):
            group.start_soon(one, index)


@pytest.mark.parametrize("transport", ["auto", "aiohttp"])
async def test_requests_through_faults_end_typed_once_and_within_budget(
    anyio_backend: str, transport: str
) -> None:
    config = MockConfig(
        faults=FaultPlan(rates=FAULT_RATES, seed=20240601), retry_after_s=RETRY_AFTER_S
    )
    outcomes = Outcomes()
    async with serve_mock(config) as server:
        client = Client(
            providers={"openai": ProviderSettings(base_url=server.openai_base_url, api_key=KEY)},
            load_entry_points=False,
            plugins=[outcomes],
            transport=transport,
            concurrency=CONCURRENCY,
            timeout=READ_TIMEOUT_S,
            stage_settings={"retry": RETRY, "breaker": BREAKER, "rate_limit": RATE_LIMIT},
        )
        async with client:
            # the default chain, every resilience stage in it (others may join it)
            assert [s for s in client.stages if s in RESILIENCE_STAGES] == RESILIENCE_STAGES
            started = anyio.current_time()
            with anyio.fail_after(60):  # a safety net, far above the seconds it takes
                await run_requests(client, outcomes)
            duration = anyio.current_time() - started
        stats = server.stats

    # Nothing lost, nothing untyped.
    untyped = {i: e for i, e in outcomes.errors.items() if not isinstance(e, SluicegateError)}
    assert not untyped, f"untyped errors leaked: {list(untyped.items())[:5]}"
    assert len(outcomes.responses) + len(outcomes.errors) == REQUESTS
    assert set(outcomes.responses) | set(outcomes.errors) == set(range(REQUESTS))
    assert all(response.text for response in outcomes.responses.values())

    # Every fault kind was injected, and the breaker took 30% for a flaky provider, not a
    # dead one, so every request reached the server.
    assert set(stats.by_fault) == set(FAULT_RATES)
    assert not [e for e in outcomes.errors.values() if isinstance(e, CircuitOpenError)]

    # Idempotency, per the server: one key per logical request, carried by every attempt,
    # answered successfully at most once and never replayed (a replay would mean the
    # client sent a request again after it had been answered); the server's successes are
    # exactly the client's, key by key for the keys the caller chose.
    received = {key: counts[0] for key, counts in stats.idempotency.items()}
    succeeded = {key: counts[1] for key, counts in stats.idempotency.items()}
    assert len(stats.idempotency) == REQUESTS
    assert sum(received.values()) == stats.requests
    assert set(outcomes.keys.values()) <= set(stats.idempotency)
    # One exception, which no client can avoid: an attempt the client timed out but the
    # server went on to answer. On a loaded machine a healthy answer can miss the 1 s read
    # timeout, and the retry is then a second success. Such a key is allowed at most one
    # extra success per attempt the client saw time out for it, and nothing else is.
    twice = {key: n for key, n in succeeded.items() if n > 1}
    unexplained = {k: n for k, n in twice.items() if n - 1 > outcomes.timed_out[k]}
    assert not unexplained, f"keys answered successfully more than once: {unexplained}"
    assert stats.replayed == 0
    assert sum(succeeded.values()) == stats.succeeded
    timeouts = sum(outcomes.timed_out.values())
    assert len(outcomes.responses) <= stats.succeeded <= len(outcomes.responses) + timeouts
    for index, key in outcomes.keys.items():
        answered = 1 if index in outcomes.responses else 0
        assert answered <= succeeded[key] <= answered + outcomes.timed_out[key], (index, key)

    # Retries made a difference, for plain and streamed calls alike.
    retried = Counter(
        "plain" if i % 2 == 0 else "stream" for i, r in outcomes.responses.items() if r.attempts > 1
    )
    assert retried["plain"] > 0 and retried["stream"] > 0

    # The retry budget: what the server received stays within its guarantee, and the
    # budget (not only the attempt count) is what stopped some requests' retries.
    bound = budget_bound(REQUESTS, duration, RETRY)
    retries = stats.requests - REQUESTS
    reasons = Counter(give_up_reason(e) for e in outcomes.errors.values())
    assert retries <= bound
    assert reasons["budget spent"] > 0

    errors_by_class = Counter(type(e).__name__ for e in outcomes.errors.values())
    print(
        f"\n[{anyio_backend}] {REQUESTS} requests in {duration:.2f}s: "
        f"{len(outcomes.responses)} succeeded ({sum(retried.values())} after a retry), "
        f"{len(outcomes.errors)} typed errors {dict(errors_by_class)} {dict(reasons)}; "
        f"server received {stats.requests} attempts ({retries} retries, budget bound "
        f"{bound}), faults {dict(stats.by_fault)}, statuses {dict(stats.by_status)}"
    )
