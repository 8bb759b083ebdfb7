"""The harness can fail: four processes (two asyncio, two trio) that each keep the same
limit in their own memory send four times that limit together, and the server's arrival
record shows it, in requests and in tokens. The checks are the ones test_shared_limits.py
makes of a shared store, so a store that shared nothing would be caught by them.

The server also sees each process keep its own limit exactly (by the ``x-mock-client``
tag of its requests), so the excess is the multiplication a shared store exists to
prevent, not a broken limiter. A second run kills one process mid-run and sees the rate
fall to three processes' worth from the moment of the kill: the harness kills when it
says it does, and the server's clock and the harness's agree.
"""

from __future__ import annotations

import math

from scaleout.cluster import DEFAULT_BACKENDS, ClusterRun, Kill, run_workers
from scaleout.windows import NS, busiest_window, share_used

RPS = 20
BURST_S = 0.1
BURST = math.ceil(RPS * BURST_S)
"""What sluicegate lets go at once (``Limit.burst_of``): 2 requests."""
TOKENS_PER_REQUEST = 6 + 16
"""The worker's requests: 6 input tokens (estimated and counted alike) and 16 output."""
TPM = RPS * TOKENS_PER_REQUEST * 60
"""A token limit worth the same 20 requests a second, so that both bind at once."""
TOKEN_RATE = TPM / 60
TOKEN_BURST = math.ceil(TPM * BURST_S / 60)
DURATION_S = 2.5
PROCESSES = len(DEFAULT_BACKENDS)
LIMITS = ["--rps", str(RPS), "--tpm", str(TPM), "--burst-s", str(BURST_S)]
RUN = [*LIMITS, "--duration-s", str(DURATION_S), "--tasks", "8"]


def report(run: ClusterRun) -> str:
    return f"statuses {dict(run.arrivals.by_status)}; summaries: {run.summaries}"


def test_without_a_store_four_processes_send_four_times_the_limit(mock_url: str) -> None:
    run = run_workers(mock_url, DEFAULT_BACKENDS, RUN)
    arrivals = run.arrivals
    assert arrivals.dropped == 0 and set(arrivals.by_status) == {200}, report(run)
    assert set(arrivals.tokens) == {TOKENS_PER_REQUEST}, "the worker's requests changed"
    times, tokens = arrivals.times_ns, arrivals.tokens
    requests = busiest_window(times, NS)
    in_tokens = busiest_window(times, NS, tokens)
    used = share_used(times, RPS, BURST)
    used_tokens = share_used(times, TOKEN_RATE, TOKEN_BURST, tokens)
    print(
        f"\nno store, {PROCESSES} processes each at {RPS} r/s + {BURST} and {TPM} tokens/min "
        f"+ {TOKEN_BURST}: busiest second {requests.total} requests (limit {RPS}), "
        f"{in_tokens.total} tokens (limit {TOKEN_RATE:.0f}); used {used:.2f} of the request "
        f"limit, {used_tokens:.2f} of the token limit, over {(times[-1] - times[0]) / NS:.2f} s"
    )
    # What test_shared_limits.py requires of a shared limit fails here, by far:
    assert requests.total > RPS + BURST and in_tokens.total > TOKEN_RATE + TOKEN_BURST
    assert requests.total >= 3.5 * RPS, report(run)
    assert in_tokens.total >= 3.5 * TOKEN_RATE, report(run)
    assert used >= 3.5 and used_tokens >= 3.5, report(run)
    # ...while each process, on its own, kept its limit and used it.
    assert set(arrivals.by_client) == set(run.names), arrivals.by_client
    for name in run.names:
        own = arrivals.of(name).times_ns
        assert busiest_window(own, NS).total <= RPS + BURST, name
        assert share_used(own, RPS, BURST) >= 0.9, name


def test_a_killed_process_stops_arriving_at_the_moment_of_the_kill(mock_url: str) -> None:
    kill = Kill(worker=2, at_s=DURATION_S / 2)  # a trio one
    run = run_workers(mock_url, DEFAULT_BACKENDS, RUN, kill=kill)
    assert run.killed_ns is not None
    assert [s is None for s in run.summaries] == [i == kill.worker for i in range(PROCESSES)]
    arrivals = run.arrivals
    victim = run.names[kill.worker]
    before, after = arrivals.before(run.killed_ns), arrivals.since(run.killed_ns)
    busiest_before = busiest_window(before.times_ns, NS).total
    busiest_after = busiest_window(after.times_ns, NS).total
    print(
        f"\nno store, kill -9 at {(run.killed_ns - run.go_ns) / NS:.2f} s: busiest second "
        f"before {busiest_before}, after {busiest_after} requests (each process {RPS} + "
        f"{BURST}); the killed one's requests after the kill: {after.by_client[victim]}"
    )
    assert before.by_client[victim] > 0
    # A request the victim had already written to its socket may land just after the
    # SIGKILL: at most one per task, and within moments.
    late = after.of(victim).times_ns
    assert len(late) <= 8 and all(t - run.killed_ns < NS // 10 for t in late), late
    assert busiest_before >= 3.5 * RPS, report(run)
    assert 2.5 * RPS <= busiest_after <= 3 * (RPS + BURST) + len(late), report(run)
