"""Lines a bulk map holds for a later try: their retry state, and the bounded park.

Why a line is held
    A line whose attempts all failed for a transient cause (see
    :func:`~sluicegate.bulk.availability.is_transient`) is not answered yet, so the map
    tries it again later in the run: when its model's pause ends, or, for a failure that
    named no wait (a 5xx after the chain's own retries), after a backoff of its own
    (:func:`line_backoff`: 2 s doubling to 30 s, jittered, so held lines do not return in
    one burst). A line held before its first try (its model was paused when it was taken
    from the input) waits for the pause alone.

Poison lines
    A line that keeps failing while its model answers other lines is the line's fault
    (too long, a prompt the server chokes on), not an outage: it must not be retried
    forever. A failure counts as a *round* only when the model answered something since
    the line's previous failure; after :data:`POISON_ROUNDS` rounds the line is pending
    for this run. (While the model answers nothing the rounds do not count: that is an
    outage, bounded by the run's patience instead.)

Bounded memory
    The park holds at most ``capacity`` lines (the map's concurrency): with one request per
    worker, a map never holds more than twice its concurrency of requests taken from the
    input and not yet yielded. When the park is full, a worker waits with its line instead
    of taking another.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sluicegate.bulk.availability import ModelAvailability
from sluicegate.retry.backoff import Backoff
from sluicegate.types import Request

__all__ = [
    "LINE_BACKOFF_CAP_S",
    "LINE_BACKOFF_S",
    "POISON_ROUNDS",
    "HeldLine",
    "Park",
    "line_backoff",
]

POISON_ROUNDS = 3
LINE_BACKOFF_S = 2.0
LINE_BACKOFF_CAP_S = 30.0


_LINE_BACKOFF = Backoff(LINE_BACKOFF_S, LINE_BACKOFF_CAP_S)


def line_backoff(failures: int, rng: random.Random) -> float:
    """The wait before a line's next try after its ``failures``-th transient failure:
    ``min(30, 2·2^(failures-1))`` seconds, drawn between half of that and all of it."""
    ceiling = _LINE_BACKOFF.ceiling(failures)
    return ceiling / 2 + rng.random() * ceiling / 2


@dataclass(slots=True)
class HeldLine:
    """One request waiting for its next try, and what its tries so far were."""

    request: Request
    ready_at: float
    """Client-clock time of its next try (its model's pause may hold it longer)."""
    failures: int = 0
    rounds: int = 0
    """Failures that came after the model answered another line (see the module doc)."""
    mark: int = 0
    """The model's success count at this line's previous failure (or when it was held)."""
    error: Exception | None = None
    latency: float = 0.0

    def failed(self, error: Exception, latency: float, successes: int) -> None:
        """Record a transient failure; ``successes`` is the model's count now."""
        if self.failures and successes > self.mark:
            self.rounds += 1
        self.failures += 1
        self.mark = successes
        self.error = error
        self.latency = latency

    @property
    def poisoned(self) -> bool:
        return self.rounds >= POISON_ROUNDS

    def due(self, availability: ModelAvailability) -> float:
        """When it may be sent: its own time, or its model's pause end if later."""
        until = availability.paused_until(self.request.model)
        return self.ready_at if until is None else max(self.ready_at, until)


class Park:
    """At most ``capacity`` held lines; scanned linearly (it is small, and only used
    while something fails)."""

    __slots__ = ("_capacity", "_lines")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._lines: list[HeldLine] = []

    def __len__(self) -> int:
        return len(self._lines)

    def __bool__(self) -> bool:
        return bool(self._lines)

    @property
    def full(self) -> bool:
        return len(self._lines) >= self._capacity

    def add(self, line: HeldLine) -> None:
        if self.full:
            raise RuntimeError("the park is full")  # the map checks first
        self._lines.append(line)

    def take(
        self, now: float, availability: ModelAvailability, *, everything: bool = False
    ) -> HeldLine | None:
        """The line to handle next: one whose model was given up (or any, with
        ``everything``: the map is stopping), else the one due first if it is due."""
        best: HeldLine | None = None
        best_due = math.inf
        for line in self._lines:
            if everything or availability.given_up(line.request.model) is not None:
                best = line
                break
            due = line.due(availability)
            if due <= now and due < best_due:
                best, best_due = line, due
        if best is not None:
            self._lines.remove(best)
        return best

    def next_due(self, availability: ModelAvailability) -> float | None:
        """The soonest time a held line is due (None if the park is empty)."""
        return min(
            (
                -math.inf
                if availability.given_up(line.request.model) is not None
                else line.due(availability)
                for line in self._lines
            ),
            default=None,
        )
