"""``sluicegate run`` as a function: input file in, one output line per input id out.

The pieces, each in its own module: input lines are parsed lazily (:mod:`.input`; CSV
rows and ``--template``: :mod:`.rows`, which renders each row as a simple-form line) and
sent through :meth:`Client.map <sluicegate.Client.map>` (:mod:`.map`); each result is
appended to the output the moment it arrives (:mod:`.output`), counted (:mod:`.stats`)
and shown (:mod:`.progress`); the summary (:mod:`.summary`) closes the run.

Same command, same keys
    Each line's idempotency key is derived from the output file's absolute path, the
    line's id and a digest of the request itself (model, messages, parameters): the same
    on every resume of the same command, so a request that reached the provider just
    before a crash is recognised when it is sent again (a provider that honours
    ``Idempotency-Key``, as the mock server does, answers it from its record without
    charging again), and different when the line's content was changed in between.

Signals
    The first Ctrl-C (or SIGTERM) stops taking new lines; the requests in flight finish
    and are written, so nothing already paid for is lost. A second one cancels them
    (they are redone on resume). Either way the output is consistent and the summary
    says how to resume.

Holding, passes and pending lines
    While a model's circuit is open or the model is in a server-requested wait, its lines
    are not failed: the map holds those it already took (:mod:`.map`), and the input
    reader does not even yield the others: it *defers* them (counts them, keeps nothing).
    Once a pass over the input is done and nothing is in flight or held, the run waits
    for the earliest pause to end and reads the input again (lazily, as the first time),
    skipping the ids already in the output, the lines of given-up models and the poison
    lines, until nothing is deferred. A line whose tries all failed transiently is never
    written: it is *pending*, and the same command sends it again (the resume skips only
    ids in the output). ``--patience`` bounds the wait for a model that answers nothing;
    the per-model bookkeeping is :mod:`.availability`. Exit status 75 says "finished, with
    lines pending": run the same command again.

Streamed input
    An input that is not a regular file (``/dev/stdin`` fed by a pipe, a FIFO) is read as
    it is written (:func:`~sluicegate.bulk.input.stream_lines`): a line is sent as soon as
    it arrives, and the run ends when the writer closes it. It is not counted first (that
    would read it to its end before sending anything), so the progress shows counts and
    a rate, no total or ETA. It can be read only once: there is one pass, and the lines of
    a paused model are held by the map (:mod:`.map`, bounded by the concurrency) instead
    of deferred to a later pass. Resuming works as for a file: feed the same lines again,
    and the ids already in the output are skipped.
    A stream is JSONL (with or without a template): a CSV is refused from one, as it is
    read more than once (:func:`~sluicegate.bulk.rows.check_input`).

Budget
    ``--budget`` is the whole run's, resumes included: the cost the output's lines already
    record is taken off it before the run starts. A refused request (its estimated cost
    does not fit in what is left) stops the run like the first Ctrl-C; its line is not
    written, so a resume with a larger ``--budget`` does it.
"""

from __future__ import annotations

import hashlib
import secrets
import signal
import stat
import sys
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from sluicegate.bulk.availability import (
    DEFAULT_PATIENCE_S,
    ModelAvailability,
    ModelUnavailableError,
)
from sluicegate.bulk.idset import IdSet
from sluicegate.bulk.input import (
    BadLine,
    InputLine,
    LineRules,
    parse_record,
    stream_lines,
)
from sluicegate.bulk.map import BulkMap, MapResult
from sluicegate.bulk.output import (
    BadLineLog,
    ResultLog,
    errors_path_for,
    open_results,
    result_record,
)
from sluicegate.bulk.progress import Progress, make_progress
from sluicegate.bulk.rows import InputSpec, Row, check_input, count_rows, read_rows
from sluicegate.bulk.stats import RunStats
from sluicegate.bulk.summary import RunOutcome
from sluicegate.client import Client
from sluicegate.errors import BadInputError, BudgetExceededError
from sluicegate.middleware.deadline import DEFAULT_TOTAL_TIMEOUT
from sluicegate.middleware.idempotency import request_fingerprint
from sluicegate.types import Request

if TYPE_CHECKING:
    from sluicegate.structured.schema import AnswerSchema

__all__ = [
    "RunOptions",
    "count_lines",
    "is_stream",
    "line_key",
    "line_request",
    "run_client",
    "run_file",
]

_KEY_PREFIX = "sgrun-"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What ``sluicegate run`` was asked to do."""

    input: Path
    output: Path
    model: str | None = None
    concurrency: int = 32
    rpm: int | None = None
    tpm: int | None = None
    burst_s: float = 0.1
    """Seconds of ``rpm``/``tpm`` that may leave at once (``--burst``)."""
    budget: float | None = None
    progress: str = "auto"
    errors_file: Path | None = None
    resume_command: str = ""
    patience: float | None = DEFAULT_PATIENCE_S
    """Seconds to wait for a model that answers nothing (``--patience``)."""
    total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT
    """Each request's time limit in all (``--total-timeout``; None: none)."""
    store: str | None = None
    """The shared store (``--store``); None: ``SLUICEGATE_STORE``, else in-process."""
    input_spec: InputSpec = field(default_factory=InputSpec)
    """How the input is read: JSONL or CSV, a template (:mod:`.rows`)."""
    schema: AnswerSchema | None = None
    """The shape every answer must have (``--schema``): each line is asked with it as
    ``response_format`` (a line's own ``response_format`` wins) and its result line
    carries ``parsed``; an answer that never fits is a StructuredAnswerError line."""
    reasks: int | None = None
    """Re-asks after an answer that does not fit (``--reasks``); None: the client's."""


def count_lines(path: Path, spec: InputSpec | None = None) -> int:
    """Non-blank lines of ``path`` (data rows of a CSV ``spec``, not its header): the
    progress bar's total, read before the run."""
    return count_rows(path, spec or InputSpec())


def is_stream(path: Path) -> bool:
    """Whether ``path`` is something other than a regular file (a pipe, a FIFO, a
    terminal): read as it is written, once, and not counted first."""
    return not stat.S_ISREG(path.stat().st_mode)


def line_key(run_identity: str, line_id: str, request: Request) -> str:
    """The idempotency key of one line of one run (see the module docstring)."""
    digest = hashlib.sha256()
    for part in (run_identity.encode(), line_id.encode(), request_fingerprint(request)):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return _KEY_PREFIX + digest.hexdigest()[:40]


def line_request(
    client: Client,
    item: InputLine,
    run_identity: str,
    schema: AnswerSchema | None = None,
    reasks: int | None = None,
) -> Request | BadLine:
    """The Request of a good line, keyed by :func:`line_key`; or a :class:`BadLine` for a
    parameter the client refuses (a malformed tool...). ``schema`` and ``reasks`` are the
    run's ``--schema`` and ``--reasks``, for a line that does not set its own."""
    params: Mapping[str, Any] = item.params
    if schema is not None or reasks is not None:
        params = dict(params)
        if schema is not None:
            params.setdefault("response_format", schema)
        if reasks is not None:
            params.setdefault("reasks", reasks)
    try:
        request = client.request(item.model, item.messages, caller_id=item.id, **params)
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return BadLine(item.line, f"{type(exc).__name__}: {message}", item.id)
    key = line_key(run_identity, item.id, request)
    return request.replace(metadata=request.metadata.replace(idempotency_key=key))


def build_client(options: RunOptions, spent: float = 0.0) -> Client:
    """The run's client (:func:`run_client`), with what is left of ``--budget`` after
    ``spent`` (by earlier runs into the same output) as its budget."""
    budget = None if options.budget is None else max(options.budget - spent, 0.0)
    return run_client(
        concurrency=options.concurrency,
        rpm=options.rpm,
        tpm=options.tpm,
        burst_s=options.burst_s,
        budget=budget,
        total_timeout=options.total_timeout,
        store=options.store,
    )


def run_client(
    *,
    concurrency: int,
    rpm: int | None = None,
    tpm: int | None = None,
    burst_s: float = 0.1,
    budget: float | None = None,
    budget_name: str | None = None,
    total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
    store: str | None = None,
    replay_ttl_s: float = 0.0,
) -> Client:
    """A client for bulk work: pools sized to the concurrency; ``rpm``/``tpm`` as a limit
    per model, with a slow start; ``budget`` in USD.

    Idempotency replay is off by default (``replay_ttl_s=0``): the output file is the
    record of what was answered, and a record per request would grow with the run. The
    keys are still sent, and twins in flight still go once. ``sluicegate.ray_data`` turns
    replay on with a shared store, where Ray's re-run of a task must not pay again.

    The budget is named for this run only (``budget_name``, else a fresh name): with a
    shared store, budgets of one name are one count, and an earlier run's spending must
    not be counted twice (a resumed run already takes it off the limit). Processes that
    share one run's budget (a Ray job's actors) pass the same name.
    """
    from sluicegate.cost.budget import Budget
    from sluicegate.limits import Adaptive, Limit, RateLimits
    from sluicegate.middleware.idempotency import IdempotencyPolicy

    settings: dict[str, Any] = {"idempotency": IdempotencyPolicy(ttl_s=replay_ttl_s)}
    rules: tuple[Limit, ...] = ()
    if rpm is not None or tpm is not None:
        rules = (Limit("*/*", rpm=rpm, tpm=tpm, burst_s=burst_s),)
    # slow start: a run's first --concurrency requests must not reach a per-second
    # limiter as one burst when no rate is given (see docs/middleware/rate-limit.md)
    settings["rate_limit"] = RateLimits(rules=rules, adaptive=Adaptive(slow_start=True))
    run_budget = None
    if budget is not None:
        run_budget = Budget(budget, name=budget_name or f"run {secrets.token_hex(8)}")
    return Client(
        concurrency=concurrency,
        stage_settings=settings,
        budget=run_budget,
        total_timeout=total_timeout,
        store=store,
    )


class _Run:
    """One run's state, shared by the input reader, the result writer and the signal
    watcher (all in one event loop, so no locks)."""

    def __init__(self, options: RunOptions, client: Client, stats: RunStats) -> None:
        self.options = options
        self.client = client
        self.stats = stats
        self.identity = str(options.output.resolve())
        self.interrupts = 0
        self.stopped_reason: str | None = None
        self.lines_in_flight: dict[str, int] = {}
        """Input line number of each request in flight or held (at most twice the concurrency)."""
        self.availability: ModelAvailability | None = None
        """The models' pauses and patience, shared by every pass (set by the first map)."""
        self.bulk: BulkMap | None = None
        """The current pass's map (the signal watcher and the budget stop it)."""
        self.waiting: anyio.CancelScope | None = None
        """The wait between two passes (a Ctrl-C cancels it)."""
        self.poison = IdSet()
        """Ids left pending as poison lines: not sent again by a later pass."""
        self.deferred: dict[str, int] = {}
        """Lines of each paused model the current pass left for a later one."""

    @property
    def ending(self) -> bool:
        return self.interrupts > 0 or self.stopped_reason is not None

    def stop(self) -> None:
        """No new lines, no further pass (the first Ctrl-C, the budget)."""
        if self.bulk is not None:
            self.bulk.stop()
        if self.waiting is not None:
            self.waiting.cancel()

    def requests(
        self, done: IdSet, bad_log: BadLineLog, on_bad: Callable[[], None], *, first: bool
    ) -> Generator[Request, None, None]:
        """The input file's good, not-yet-done lines as Requests, read as the map asks.
        Lines of a paused model are deferred (counted), of a given-up model or poison ones
        left pending (counted); bad lines and skips are counted on the ``first`` pass only."""
        take = self._line_taker(done, bad_log, on_bad, first=first, streamed=False)
        with closing(read_rows(self.options.input, self.options.input_spec)) as rows:
            for row in rows:
                request = take(row)
                if request is not None:
                    yield request

    async def streamed_requests(
        self, done: IdSet, bad_log: BadLineLog, on_bad: Callable[[], None]
    ) -> AsyncGenerator[Request, None]:
        """What :meth:`requests` gives, from a streamed input, in its only pass: each line
        as it arrives (counted into the total as it is read); a paused model's lines go to
        the map, which holds them."""
        take = self._line_taker(done, bad_log, on_bad, first=True, streamed=True)
        spec = self.options.input_spec  # JSONL: a CSV from a stream is refused
        with self.options.input.open("rb") as stream:
            async for number, raw in stream_lines(stream):
                request = take(spec.line_row(raw, number))
                if request is not None:
                    yield request

    def _line_taker(
        self,
        done: IdSet,
        bad_log: BadLineLog,
        on_bad: Callable[[], None],
        *,
        first: bool,
        streamed: bool,
    ) -> Callable[[Row | BadLine], Request | None]:
        """One pass's handling of each row read: its Request to send, or None (bad,
        skipped, deferred or pending; counted as such)."""
        rules = LineRules.of_client(self.options.model, self.client)
        seen = done.sightings()
        stats = self.stats
        availability = self.availability
        assert availability is not None
        poison = self.poison
        deferred = self.deferred

        def take(row: Row | BadLine) -> Request | None:
            number = row.line
            if streamed:
                stats.total_lines += 1
            item = parse_record(row.record, number, rules) if isinstance(row, Row) else row
            request: Request | BadLine
            if isinstance(item, InputLine):
                if not seen.add(item.id):
                    request = BadLine(
                        number, f"duplicate id {item.id!r}: an earlier line has it", item.id
                    )
                elif item.id in done:
                    if first:
                        stats.skipped += 1
                    return None
                elif (poison and item.id in poison) or (
                    availability.blocking(item.model)
                    and (not streamed or availability.given_up(item.model) is not None)
                ):
                    if item.id in poison:
                        stats.add_pending(item.model, "poison")
                    elif availability.given_up(item.model) is not None:
                        stats.add_pending(item.model, "given_up")
                    else:
                        deferred[item.model] = deferred.get(item.model, 0) + 1
                        stats.deferred += 1
                    return None
                else:
                    request = self._request(item)
            else:
                request = item
            if isinstance(request, BadLine):
                if first:
                    stats.add_bad(request)
                    bad_log.append(request)
                    on_bad()
                return None
            self.lines_in_flight[request.metadata.caller_id or ""] = number
            stats.sent += 1
            return request

        return take

    def _request(self, item: InputLine) -> Request | BadLine:
        options = self.options
        return line_request(self.client, item, self.identity, options.schema, options.reasks)

    async def watch_signals(self, *, task_status: TaskStatus[None]) -> None:
        """First SIGINT/SIGTERM: stop taking lines; the second: cancel those in flight."""
        try:
            receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
        except NotImplementedError:  # no signal support here (asyncio on Windows)
            task_status.started()
            return
        with receiver as signals:
            task_status.started()
            async for _ in signals:
                self.interrupts += 1
                if self.interrupts == 1:
                    self.stop()
                    _note(
                        f"stopping: no new lines; waiting for {self.stats.in_flight} in "
                        "flight (Ctrl-C again to cancel them)"
                    )
                elif self.bulk is not None:
                    self.bulk.cancel()

    async def wait_for_pauses(self, progress: Progress) -> None:
        """Between passes: wait until the earliest pause of a model with deferred lines
        ends (at once if one already has); a Ctrl-C cancels the wait."""
        availability = self.availability
        assert availability is not None
        until = availability.earliest_end(self.deferred)
        if until is None:
            return
        clock = availability.clock
        refresh_waits(self.stats, availability)
        progress.update(self.stats)
        with anyio.CancelScope() as scope:
            self.waiting = scope
            try:
                await clock.sleep(until - clock.now())
            finally:
                self.waiting = None


def refresh_waits(stats: RunStats, availability: ModelAvailability) -> None:
    """Copy what the models wait for into ``stats``, for the progress display."""
    stats.waits = availability.waits()
    stats.now = availability.clock.now()


async def _tick(stats: RunStats, availability: ModelAvailability, progress: Progress) -> None:
    """Refresh the waits' countdowns once a second (of the client's clock) while a model
    waits; every 5 s otherwise."""
    clock = availability.clock
    while True:
        await clock.sleep(1.0 if stats.waits else 5.0)
        refresh_waits(stats, availability)
        progress.update(stats)


def _note(text: str) -> None:
    sys.stderr.write(f"\nsluicegate run: {text}\n")
    sys.stderr.flush()


async def run_file(
    options: RunOptions,
    *,
    client: Client | None = None,
    progress_stream: IO[str] | None = None,
) -> RunOutcome:
    """Run ``options.input`` into ``options.output`` and return how it ended."""
    if options.input.resolve() == options.output.resolve():
        raise BadInputError("the output file must not be the input file", file=str(options.input))
    check_input(options.input, options.input_spec)
    started = time.monotonic()
    streamed = is_stream(options.input)
    total = 0 if streamed else count_lines(options.input, options.input_spec)
    stats = RunStats(total_lines=total, streamed=streamed)
    log, resumed = open_results(options.output)
    stats.already_done = len(resumed.done)
    done = resumed.done  # ids written by this run join it, so a later pass skips them
    errors_path = options.errors_file or errors_path_for(options.output)
    bad_log = BadLineLog(errors_path)
    progress = make_progress(options.progress, progress_stream or sys.stderr, streamed=streamed)
    run: _Run | None = None
    try:
        async with client or build_client(options, resumed.cost) as open_client:
            run = _Run(options, open_client, stats)
            progress.start()
            # An error of the loop (a failed write) is re-raised as itself once the
            # signal watcher stopped, not wrapped in the task group's ExceptionGroup.
            error: Exception | None = None
            try:
                async with anyio.create_task_group() as watchers:
                    await watchers.start(run.watch_signals)
                    error = await _passes(run, open_client, log, done, bad_log, progress, watchers)
                    watchers.cancel_scope.cancel()
            finally:
                progress.stop()
            if error is not None:
                raise error
    finally:
        log.close()
        bad_log.close()
    if run is not None and run.availability is not None:
        for model, given_up in run.availability.given_up_models().items():
            stats.given_up[model] = f"given up: {given_up.reason}"
    return RunOutcome(
        stats=stats,
        output=options.output,
        errors_file=errors_path if stats.bad_lines else None,
        interrupted=run is not None and run.interrupts > 0,
        stopped_reason=run.stopped_reason if run is not None else None,
        resume_command=options.resume_command,
        elapsed_s=time.monotonic() - started,
        repaired_bytes=resumed.torn_bytes,
    )


async def _passes(
    run: _Run,
    client: Client,
    log: ResultLog,
    done: IdSet,
    bad_log: BadLineLog,
    progress: Progress,
    watchers: TaskGroup,
) -> Exception | None:
    """Pass over the input until no line is deferred (or the run is stopped); the error
    of the loop (a failed write), if one ended it."""
    stats, options = run.stats, run.options

    def on_bad() -> None:
        progress.update(stats)

    def changed() -> None:
        assert run.availability is not None
        refresh_waits(stats, run.availability)
        progress.update(stats)

    while True:
        stats.new_pass()
        run.deferred.clear()
        first = stats.passes == 1
        requests: Generator[Request, None, None] | AsyncGenerator[Request, None]
        if stats.streamed:  # one pass: the map closes it (an async generator's owner must)
            requests = run.streamed_requests(done, bad_log, on_bad)
        else:
            requests = run.requests(done, bad_log, on_bad, first=first)
        if run.availability is None:
            bulk = client.map(requests, concurrency=options.concurrency, patience=options.patience)
            run.availability = bulk.availability
            run.availability.on_change = changed
            if options.progress != "none":
                watchers.start_soon(_tick, stats, run.availability, progress)
        else:
            bulk = client.map(
                requests, concurrency=options.concurrency, availability=run.availability
            )
        run.bulk = bulk
        try:
            async with bulk as results:
                async for result in results:
                    _record(run, log, done, result)
                    progress.update(stats)
        except Exception as exc:
            return exc
        finally:
            run.bulk = None
            if isinstance(requests, Generator):
                requests.close()  # the input file, when the pass stopped before its end
        if run.ending or not run.deferred:
            return None
        await run.wait_for_pauses(progress)
        if run.ending:
            return None


def _record(run: _Run, log: ResultLog, done: IdSet, result: MapResult) -> None:
    """Write one result; or leave its line for a later pass or run: a budget refusal
    (and stop), a pending result (an answer that may come later)."""
    line_id = result.caller_id or ""
    line = run.lines_in_flight.pop(line_id, None)
    stats = run.stats
    if isinstance(result.error, BudgetExceededError):
        stats.refused += 1
        if run.stopped_reason is None:
            run.stopped_reason = "the budget is spent"
            run.stop()
        return
    if result.pending:
        stats.returned_pending += 1
        model = result.request.model
        if run.ending:
            stats.add_pending(model, "other")
        elif isinstance(result.error, ModelUnavailableError):
            stats.add_pending(model, "given_up")
        else:
            run.poison.add(line_id)
            stats.add_pending(model, "poison", result.error)
        return
    log.append(result_record(result, line))
    done.add(line_id)
    stats.add_result(result)
