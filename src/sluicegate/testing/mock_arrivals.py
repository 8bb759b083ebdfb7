"""The mock server's arrival record: when each completion request arrived, and what it
was answered with, read through ``GET /_mock/arrivals``.

Counters (:mod:`~sluicegate.testing.mock_stats`) say how many requests came; a rate limit
is about *when* they came. A client-side limiter shared by many processes can only be
judged by the party the limit protects, so the scale-out tests read these times from the
server and look for the busiest window themselves, instead of trusting what each client
believes it sent.

Opt-in (``MockConfig(record_arrivals=True)``) and bounded (``arrival_cap`` entries; later
arrivals are only counted as ``dropped``), so benchmarks pay one ``is None`` check per
request and a long run cannot grow the server without bound.

Times are ``time.monotonic_ns()`` of the server process: on Linux ``CLOCK_MONOTONIC`` is
one clock for the whole machine, so another process's ``time.monotonic_ns()`` (a
harness noting when it killed a worker) can be compared with them directly. When the
app has an injected clock (``MockConfig.clock``, e.g. a ``FakeClock``) its time is
recorded instead, in nanoseconds, so tests in virtual time see virtual arrivals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sluicegate.clock import Clock
from sluicegate.testing.mock_wire import MockJob

__all__ = ["CLIENT_HEADER", "FIELDS", "Arrival", "Arrivals"]

FIELDS = ("arrived_ns", "status", "input_tokens", "output_tokens", "client")
"""The order of each entry's values in ``GET /_mock/arrivals``."""

CLIENT_HEADER = "x-mock-client"
"""A request header whose value (its first :data:`CLIENT_CHARS` characters) is recorded
with the arrival, or null without one: which of several processes sent it, so each
one's share of a limit can be judged by the server too."""
CLIENT_CHARS = 64


class Arrival:
    """One request on its way through the pipeline: its arrival time, and the job once it
    was parsed and went on to admission (a refusal, a replay or a malformed body has
    none, so it is recorded without tokens)."""

    __slots__ = ("arrived_ns", "client", "job")

    def __init__(self, arrived_ns: int, client: str | None) -> None:
        self.arrived_ns = arrived_ns
        self.client = client
        self.job: MockJob | None = None


class Arrivals:
    """The first ``cap`` completion requests answered since the last reset, each as
    (arrival time in ns, status, input tokens, output tokens, client).

    Tokens are the mock's own counts (:mod:`~sluicegate.testing.content`) of the answer
    a 200 carried, so for undamaged plain answers they add up to the stats'
    ``input_tokens``/``output_tokens``; an error, or an answer replayed from the
    idempotency record (not charged), has 0 and 0. A 200 whose body a fault damaged still
    shows the tokens its answer would have had.
    """

    __slots__ = ("_entries", "_now_ns", "cap", "dropped")

    def __init__(self, cap: int, clock: Clock | None = None) -> None:
        self.cap = cap
        self.dropped = 0
        self._entries: list[tuple[int, int, int, int, str | None]] = []
        self._now_ns: Callable[[], int] = (
            time.monotonic_ns if clock is None else (lambda: round(clock.now() * 1e9))
        )

    def open(self, headers: Mapping[str, str]) -> Arrival:
        """Note a request as it arrives, before anything is read or decided."""
        client = headers.get(CLIENT_HEADER)
        return Arrival(self._now_ns(), None if client is None else client[:CLIENT_CHARS])

    def close(self, arrival: Arrival, status: int) -> None:
        """Record ``arrival`` once its answer (of ``status``) is decided."""
        if len(self._entries) >= self.cap:
            self.dropped += 1
            return
        job = arrival.job
        if status == 200 and job is not None:
            tokens = (job.input_tokens, job.output_tokens)
        else:
            tokens = (0, 0)
        self._entries.append((arrival.arrived_ns, status, *tokens, arrival.client))

    def clear(self) -> None:
        self._entries.clear()
        self.dropped = 0

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /_mock/arrivals`` sends: entries in arrival order (they are
        recorded as they are answered, which with latency is another order)."""
        return {
            "fields": list(FIELDS),
            "arrivals": sorted(self._entries, key=_arrived),
            "cap": self.cap,
            "dropped": self.dropped,
        }


def _arrived(entry: tuple[int, int, int, int, str | None]) -> int:
    return entry[0]
