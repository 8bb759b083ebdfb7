"""What a run counts as it goes: per model requests, errors by type, tokens, cost and a
latency histogram; bad lines; lines skipped because they were done before.

Everything here is a fixed number of counters per model (the latency histogram included),
so the statistics of a 100,000-line run take the memory of a 10-line one. Only the first
:data:`KEPT_BAD_LINES` bad lines are kept for the summary; the errors file has them all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sluicegate.bulk.availability import Wait
from sluicegate.bulk.histogram import LatencyHistogram
from sluicegate.bulk.input import BadLine
from sluicegate.bulk.map import MapResult

__all__ = ["KEPT_BAD_LINES", "ModelStats", "PendingStats", "RunStats"]

KEPT_BAD_LINES = 20


@dataclass(slots=True)
class ModelStats:
    """One model's totals."""

    requests: int = 0
    succeeded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    unpriced: int = 0
    """Answers whose cost is unknown (no price for the model): not counted as 0."""
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(self, result: MapResult) -> None:
        self.requests += 1
        self.latency.add(result.latency)
        response = result.response
        if response is None:
            self.errors[type(result.error).__name__] += 1
            return
        self._answered(response.usage.input_tokens, response.usage.output_tokens, response.cost)

    def add_record(self, record: Mapping[str, Any]) -> None:
        """What :meth:`add` counts, from the output line of a result (written by
        :func:`~sluicegate.bulk.output.result_record`), for results made in another
        process (``sluicegate run --engine ray``)."""
        self.requests += 1
        self.latency.add(float(record.get("latency") or 0.0))
        error = record.get("error")
        if error is not None:
            self.errors[str(error.get("type"))] += 1
            return
        usage = record.get("usage") or {}
        cost = record.get("cost")
        self._answered(
            int(usage.get("input_tokens") or 0),
            int(usage.get("output_tokens") or 0),
            None if cost is None else float(cost),
        )

    def _answered(self, input_tokens: int, output_tokens: int, cost: float | None) -> None:
        self.succeeded += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if cost is None:
            self.unpriced += 1
        else:
            self.cost += cost


@dataclass(slots=True)
class PendingStats:
    """One model's lines left pending by the latest pass over the input (each pass finds
    them all again: skipped, or yielded pending by the map), and why."""

    given_up: int = 0
    """Lines of a model the run gave up on (:class:`~sluicegate.bulk.ModelUnavailableError`)."""
    poison: int = 0
    """Lines that kept failing while their model answered others."""
    other: int = 0
    """Lines held when the run stopped."""

    @property
    def total(self) -> int:
        return self.given_up + self.poison + self.other


@dataclass(slots=True)
class RunStats:
    """The whole run's counters, read by the progress display and the summary."""

    total_lines: int = 0
    """Non-blank lines in the input (counted before the run, for the progress bar); of a
    streamed input, those read so far."""
    streamed: bool = False
    """The input is a pipe or another stream: read as it is written, its total unknown
    until its end."""
    already_done: int = 0
    """Ids found in the output when the run started."""
    skipped: int = 0
    """Input lines not sent because their id was already in the output."""
    sent: int = 0
    written: int = 0
    refused: int = 0
    """Requests the budget refused before sending: not written, left for a resume."""
    failed: int = 0
    bad_lines: int = 0
    first_bad: list[BadLine] = field(default_factory=list)
    models: dict[str, ModelStats] = field(default_factory=dict)
    returned_pending: int = 0
    """Results the map yielded pending (over every pass): not written."""
    pending: dict[str, PendingStats] = field(default_factory=dict)
    """Per model, the lines the latest pass left pending (see :class:`PendingStats`)."""
    poison_errors: dict[str, Counter[str]] = field(default_factory=dict)
    """Per model, the last error type of each line given up as poison (each line once)."""
    given_up: dict[str, str] = field(default_factory=dict)
    """Per model given up, the reason (the ModelUnavailableError message)."""
    deferred: int = 0
    """Lines the current pass left for a later one (their model was paused)."""
    passes: int = 0
    waits: tuple[Wait, ...] = ()
    """What paused, failing or given-up models wait for (refreshed by the run)."""
    now: float = 0.0
    """The client's clock when :attr:`waits` was refreshed (their countdowns)."""

    @property
    def in_flight(self) -> int:
        return self.sent - self.written - self.refused - self.returned_pending

    @property
    def pending_total(self) -> int:
        return sum(p.total for p in self.pending.values())

    def new_pass(self) -> None:
        """A new pass over the input: it finds every pending line again."""
        self.passes += 1
        self.pending = {}
        self.deferred = 0

    def add_pending(self, model: str, why: str, error: BaseException | None = None) -> None:
        """A line left pending by this pass: ``why`` is ``given_up``, ``poison`` or
        ``other``; ``error`` (a poison line's last error, once per line)."""
        stats = self.pending.get(model)
        if stats is None:
            stats = self.pending[model] = PendingStats()
        setattr(stats, why, getattr(stats, why) + 1)
        if error is not None:
            counter = self.poison_errors.get(model)
            if counter is None:
                counter = self.poison_errors[model] = Counter()
            counter[type(error).__name__] += 1

    @property
    def remaining(self) -> int:
        """Input lines neither in the output nor reported bad (left for a resume)."""
        return max(self.total_lines - self.already_done - self.written - self.bad_lines, 0)

    @property
    def tokens(self) -> int:
        return sum(m.input_tokens + m.output_tokens for m in self.models.values())

    @property
    def cost(self) -> float:
        return sum(m.cost for m in self.models.values())

    @property
    def unpriced(self) -> int:
        return sum(m.unpriced for m in self.models.values())

    def add_result(self, result: MapResult) -> None:
        self.written += 1
        if result.response is None:
            self.failed += 1
        model = result.request.model
        stats = self.models.get(model)
        if stats is None:
            stats = self.models[model] = ModelStats()
        stats.add(result)

    def add_record(self, record: Mapping[str, Any]) -> None:
        """What :meth:`add_result` counts, from a result's output line."""
        self.written += 1
        if record.get("error") is not None:
            self.failed += 1
        model = str(record.get("model"))
        stats = self.models.get(model)
        if stats is None:
            stats = self.models[model] = ModelStats()
        stats.add_record(record)

    def add_bad(self, bad: BadLine) -> None:
        self.bad_lines += 1
        if len(self.first_bad) < KEPT_BAD_LINES:
            self.first_bad.append(bad)
