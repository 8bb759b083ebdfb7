"""The progress of a run on stderr: a rich bar on a terminal, a plain line every few
seconds otherwise (a log file or CI gets a readable record, not control codes), or
nothing with ``--no-progress``.

The bar counts the lines this run has to handle (the input's lines less those already in
the output): done, failed, in flight, tokens, cost so far and the ETA. A streamed input (a
pipe) has no total until its end, so its progress shows the lines handled and their rate
instead of a total and an ETA. rich redraws it
from its own thread a few times a second; a result only sets numbers, so a fast run does
not pay for drawing per request.

A model the run is waiting for (its circuit open, a server-requested wait, failing, or
given up) is shown with what it waits for and a countdown on the client's clock
(``openai/gpt-4.1-mini: circuit open after 20 of 24 calls failed, probing in 12 s``): on
the bar's line, and in plain mode on a line of its own, written at once when a model
starts waiting or its reason changes (a pause is an event worth a log line) and with
every periodic line while it lasts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Any, Protocol

from sluicegate.bulk.stats import RunStats

__all__ = [
    "BarProgress",
    "NoProgress",
    "PlainProgress",
    "Progress",
    "display_mode",
    "format_cost",
    "make_progress",
    "wait_lines",
]

PLAIN_INTERVAL_S = 10.0


class Progress(Protocol):
    def start(self) -> None: ...
    def update(self, stats: RunStats) -> None: ...
    def stop(self) -> None: ...


def format_cost(cost: float, unpriced: int = 0) -> str:
    """``$0.0123``, with ``+?`` when some answers had no known price (their cost is
    unknown, not zero)."""
    from sluicegate.cost.rates import format_usd

    text = format_usd(cost)
    return f"{text}+?" if unpriced else text


def _todo(stats: RunStats) -> int | None:
    """Lines this run has to handle; None for a streamed input (unknown until its end)."""
    if stats.streamed:
        return None
    return max(stats.total_lines - stats.already_done, 0)


def _handled(stats: RunStats) -> int:
    return stats.written + stats.bad_lines


def _rate(stats: RunStats, elapsed_s: float) -> str:
    return f"{_handled(stats) / elapsed_s if elapsed_s > 0 else 0.0:.1f} lines/s"


def _run_line(stats: RunStats, elapsed_s: float) -> str:
    held = ""
    if stats.pending_total or stats.deferred:
        held = f", {stats.pending_total} pending, {stats.deferred} deferred"
    todo = _todo(stats)
    count = (
        f"{_handled(stats)} lines ({_rate(stats, elapsed_s)})"
        if todo is None
        else f"{_handled(stats)}/{todo} lines"
    )
    return (
        f"sluicegate run: {count}, {stats.failed} failed, "
        f"{stats.bad_lines} bad, {stats.in_flight} in flight{held}, {stats.tokens} tokens, "
        f"{format_cost(stats.cost, stats.unpriced)}, {elapsed_s:.0f} s"
    )


def wait_lines(state: Any) -> list[str]:
    """What each waiting model waits for, with its countdown (none for a batch run)."""
    waits = getattr(state, "waits", ())
    now = getattr(state, "now", 0.0)
    return [wait.describe(now) for wait in waits]


def _wait_keys(state: Any) -> frozenset[tuple[str, str]]:
    return frozenset((w.model, w.reason) for w in getattr(state, "waits", ()))


class NoProgress:
    """``--no-progress``, for a live run or a batch run alike."""

    def start(self) -> None:
        pass

    def update(self, state: object) -> None:
        pass

    def stop(self) -> None:
        pass


class PlainProgress:
    """One line every :data:`PLAIN_INTERVAL_S` seconds at most, made by ``line`` from what
    the run reports (a live run's stats by default; batch mode passes its own)."""

    def __init__(
        self,
        stream: IO[str],
        interval_s: float = PLAIN_INTERVAL_S,
        line: Callable[[Any, float], str] = _run_line,
    ) -> None:
        self._stream = stream
        self._interval = interval_s
        self._line = line
        self._started = 0.0
        self._next = 0.0
        self._waiting: frozenset[tuple[str, str]] = frozenset()

    def start(self) -> None:
        self._started = time.monotonic()
        self._next = self._started + self._interval

    def update(self, state: Any) -> None:
        now = time.monotonic()
        waiting = _wait_keys(state) if getattr(state, "waits", ()) or self._waiting else None
        if waiting is not None and waiting != self._waiting:
            new = waiting - self._waiting
            self._waiting = waiting
            lines = [
                line
                for wait, line in zip(state.waits, wait_lines(state), strict=True)
                if (wait.model, wait.reason) in new
            ]
            if lines:
                self._write("".join(f"sluicegate run: waiting: {line}\n" for line in lines))
        if now < self._next:
            return
        self._next = now + self._interval
        text = self._line(state, now - self._started) + "\n"
        text += "".join(f"  waiting: {line}\n" for line in wait_lines(state))
        self._write(text)

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def stop(self) -> None:
        pass


class BarProgress:
    """The rich bar; for a ``streamed`` input (no total), the lines handled and their rate
    in place of the bar and the ETA."""

    def __init__(self, console: Any, *, streamed: bool = False) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        fields = (
            "[green]{task.fields[done]} ok[/] [red]{task.fields[failed]} failed[/] "
            "{task.fields[in_flight]} in flight {task.fields[tokens]} tok {task.fields[cost]}"
        )
        columns: tuple[Any, ...]
        if streamed:
            columns = (TextColumn("{task.completed} lines ({task.fields[rate]})"),)
            columns += (TextColumn(fields),)
        else:
            columns = (BarColumn(bar_width=16), MofNCompleteColumn())
            columns += (TextColumn(fields + " ETA"), TimeRemainingColumn())
        self._bar = RichProgress(
            *columns,
            TextColumn("[yellow]{task.fields[waiting]}"),
            console=console,
            refresh_per_second=4,
            transient=False,
        )
        self._task: Any = None
        self._started = 0.0

    def start(self) -> None:
        self._task = self._bar.add_task(
            "run",
            total=None,
            done=0,
            failed=0,
            in_flight=0,
            tokens=0,
            cost="$0",
            waiting="",
            rate=_rate(RunStats(), 0.0),
        )
        self._started = time.monotonic()
        self._bar.start()

    def update(self, stats: RunStats) -> None:
        self._bar.update(
            self._task,
            total=_todo(stats) or None,
            rate=_rate(stats, time.monotonic() - self._started),
            completed=_handled(stats),
            done=stats.written - stats.failed,
            failed=stats.failed + stats.bad_lines,
            in_flight=stats.in_flight,
            tokens=_compact(stats.tokens),
            cost=format_cost(stats.cost, stats.unpriced),
            waiting="; ".join(wait_lines(stats)),
        )

    def stop(self) -> None:
        self._bar.stop()


def _compact(count: int) -> str:
    """``950``, ``13.4k``, ``2.1M``: a count that keeps the bar's line short."""
    if count < 10_000:
        return str(count)
    if count < 10_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"


def display_mode(mode: str, stream: IO[str]) -> str:
    """``mode`` as asked (``"bar"``, ``"plain"``, ``"none"``), with ``"auto"`` decided:
    the bar on a terminal, plain lines otherwise."""
    if mode != "auto":
        return mode
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "plain"


def make_progress(mode: str, stream: IO[str], *, streamed: bool = False) -> Progress:
    """``mode``: ``"auto"`` (the bar on a terminal, plain lines otherwise), ``"bar"``,
    ``"plain"`` or ``"none"``; ``streamed``: the input has no total to show."""
    mode = display_mode(mode, stream)
    if mode == "none":
        return NoProgress()
    if mode == "bar":
        from rich.console import Console

        return BarProgress(Console(file=stream), streamed=streamed)
    return PlainProgress(stream)
