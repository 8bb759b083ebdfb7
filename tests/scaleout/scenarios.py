"""The runs the scale-out tests make, and how the kill run is judged.

Kept apart from the tests so that the store's tests (test_shared_limits.py) and the
harness's own (test_harness.py, which runs the same scenarios without a store and must
see them fail, or pass with a correctly divided limit) cannot drift apart.

The kill scenario: requests take :data:`KILL_LATENCY_S` at the server and a concurrency
limit of :data:`KILL_CONCURRENCY` leaves only 5% above what the rate limit needs, so the
leases a killed process held (a quarter of those in flight, about 10) cut the rate below
95% until they expire. The others keep the rate up only once the store has expired them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scaleout.cluster import ClusterRun
from scaleout.windows import NS, Verdict, busiest_window, judge

RPS = 40
BURST_S = 0.1
BURST = math.ceil(RPS * BURST_S)
"""What sluicegate lets go at once (``Limit.burst_of``): 4 requests."""
TOKENS_PER_REQUEST = 6 + 16
"""The worker's requests: 6 input tokens (sluicegate's estimate and the mock's count
agree) and 16 output (``max_tokens``, the mock's shortest answer)."""
TPM = RPS * TOKENS_PER_REQUEST * 60
"""A token limit worth 40 requests a second: 52,800 tokens a minute."""
TOKEN_RATE = TPM / 60
TOKEN_BURST = math.ceil(TPM * BURST_S / 60)
DURATION_S = 2.0
"""80 requests at the limit: each one short is 1.25% of the share."""
TASKS = 8
"""Calls each worker keeps going: with the mock's 10 ms, far more than the limit lets
through, so the limit is what paces every process."""
MIN_SHARE = 0.95

KILL_LATENCY_S = 1.0
KILL_CONCURRENCY = 42
"""In flight at 40 r/s and 1 s a request: 40, plus 5% (a request takes a little more
than the server's 1 s from the client's side)."""
KILL_TASKS = 16
"""Per worker: the three left after the kill must still be able to keep 40 in flight."""
KILL_TOTAL_TIMEOUT_S = 2.0
"""Each request's deadline (``Client(total_timeout=...)``)."""
LEASE_EXPIRY_S = 1.0
"""The longest a killed process's concurrency lease may hold its slot: the store's
``RedisStore(lease_s=...)``, which the workers are given (``--lease-s``); a live process
renews its leases every third of it."""
SETTLE_S = 0.2
"""After the leases' expiry, time for the freed slots to be taken up again."""
KILL_AT_S = 1.5
"""When the victim is killed: its leases are then a steady quarter of those in flight."""
KILL_DURATION_S = KILL_AT_S + LEASE_EXPIRY_S + SETTLE_S + 1.8
"""Long enough for 1.8 s (72 requests) to be judged after the leases' expiry."""
KILLED = 2
"""The victim: the first trio worker (the backends are asyncio, asyncio, trio, trio)."""


def common_args(*, duration_s: float = DURATION_S, tasks: int = TASKS) -> list[str]:
    return ["--burst-s", str(BURST_S), "--duration-s", str(duration_s), "--tasks", str(tasks)]


def kill_args(*, rps: float = RPS, concurrency: int = KILL_CONCURRENCY) -> list[str]:
    """A worker's arguments in the kill scenario (a quarter of each limit, for a
    correctly divided local share)."""
    limits = ["--rps", str(rps), "--concurrency", str(concurrency)]
    timeouts = [
        "--total-timeout-s",
        str(KILL_TOTAL_TIMEOUT_S),
        "--lease-s",
        str(LEASE_EXPIRY_S),
    ]
    return [*limits, *timeouts, *common_args(duration_s=KILL_DURATION_S, tasks=KILL_TASKS)]


@dataclass(frozen=True)
class KillVerdicts:
    whole: Verdict
    """The request limit over the whole run (its window check is what must hold)."""
    in_flight: int
    """The most requests in flight at once, by the server (arrivals within one latency
    of each other are all unanswered at its end)."""
    before: Verdict
    """Up to the kill: the limit used by four processes."""
    recovered: Verdict
    """From the leases' expiry (plus :data:`SETTLE_S`) to the end: the limit used by the
    three left. Judged with a burst of 1 (the fencepost), since a window inside a run
    that was at its limit all along has no burst left to spend."""
    victim_in_flight: int
    """The victim's requests unanswered when it was killed (the leases it left behind):
    the kill scenario tells a leaking store apart only when this is large."""

    def __str__(self) -> str:
        return (
            f"whole run: {self.whole}; at most {self.in_flight} in flight; before the kill: "
            f"{self.before.share:.1%} used; after the leases' expiry: "
            f"{self.recovered.share:.1%} used; the victim left {self.victim_in_flight} "
            f"requests in flight"
        )


def kill_verdicts(run: ClusterRun) -> KillVerdicts:
    assert run.killed_ns is not None
    arrivals = run.arrivals
    times = arrivals.times_ns
    recovered_ns = run.killed_ns + round((LEASE_EXPIRY_S + SETTLE_S) * NS)
    victim = arrivals.of(run.names[KILLED]).before(run.killed_ns).times_ns
    latency_ns = round(KILL_LATENCY_S * NS)
    return KillVerdicts(
        whole=judge(times, RPS, BURST),
        in_flight=busiest_window(times, latency_ns).total,
        before=judge(arrivals.before(run.killed_ns).times_ns, RPS, BURST),
        recovered=judge(arrivals.since(recovered_ns).times_ns, RPS, 1),
        victim_in_flight=sum(1 for t in victim if t >= run.killed_ns - latency_ns),
    )
