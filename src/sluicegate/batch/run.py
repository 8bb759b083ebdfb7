"""``sluicegate run --mode batch`` (and ``sluicegate batch ...``) as a function: the same
input and output files as a live run, through the providers' batch APIs at their price.

The run, in order (each step its own method below):

1. **State.** ``OUTPUT.batches.json`` (:mod:`.state`) is read: jobs an earlier process
   created are reattached to, not submitted again. Their lines are matched by number, so
   an input changed while they ran is refused.
2. **Submit.** The input is read once, lazily, as a live run reads it (the same line
   forms, bad-line rules and errors file; ids already in the output are skipped); lines
   that a job of the state file holds are skipped too. The rest is split into jobs by the
   provider's limits (:mod:`.planner`), and each job is recorded in the state file the
   moment it is created.
3. **Watch.** Every job not yet collected is polled with backoff and jitter
   (:mod:`.watch`); the progress bar sums the providers' request counts.
4. **Collect.** A job that ended has its results streamed and decoded line by line
   (:mod:`.entries` reads its input lines back for the ids and line numbers) and written
   in the live run's output format (:func:`~sluicegate.bulk.output.result_record`): one
   line per id, usage, cost at the batch price. A retryable failure (an expired,
   cancelled or 5xx item, an item of a job that failed as a whole) is resubmitted as a
   new job, or sent live with ``--retry-live``, up to ``--max-resubmits`` times; then it
   is written with its typed error, like a failure that no retry can cure.

Signals
    The first Ctrl-C (or SIGTERM) detaches: no more submitting or polling, a job being
    created or collected is finished, the jobs keep running at the provider and the same
    command reattaches to them later. A second Ctrl-C (within a few seconds, or while the
    first is being handled) cancels the jobs at the provider, then collects what they had
    finished; the cancelled items are not written, so a later run submits them again.
    ``sluicegate batch cancel`` does the same from another shell.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from sluicegate.batch.api import BatchJob, BatchOutcome, JobState
from sluicegate.batch.entries import Entry, job_entries, read_line_at
from sluicegate.batch.planner import Chunk, ChunkPlanner, ItemTooLargeError
from sluicegate.batch.progress import BatchView, make_batch_progress
from sluicegate.batch.state import BatchState, JobRecord, file_digest, state_path_for
from sluicegate.batch.watch import JobWatch
from sluicegate.bulk.file_errors import FileWriteError
from sluicegate.bulk.idset import IdSet
from sluicegate.bulk.input import BadLine, InputLine, LineRules, parse_line
from sluicegate.bulk.map import MapResult
from sluicegate.bulk.output import (
    BadLineLog,
    ResultLog,
    errors_path_for,
    open_results,
    result_record,
)
from sluicegate.bulk.paths import check_run_files
from sluicegate.bulk.runner import count_lines, line_key
from sluicegate.bulk.stats import RunStats
from sluicegate.cli import exit_status
from sluicegate.client import Client
from sluicegate.errors import BadInputError, BatchItemError, ProviderError
from sluicegate.logs import get_logger
from sluicegate.types import Request

__all__ = ["BatchAction", "BatchRunOptions", "BatchRunOutcome", "run_batch"]

BatchAction = Literal["run", "submit", "wait", "collect", "cancel"]
_CHECKPOINT_LINES = 1024
SECOND_SIGNAL_GRACE_S = 3.0
"""How long after a first Ctrl-C a second one still cancels the jobs."""


@dataclass(frozen=True, slots=True)
class BatchRunOptions:
    """What the batch run was asked to do.

    ``action``: ``run`` (submit, wait, collect: ``sluicegate run --mode batch``),
    ``submit`` (submit and return), ``wait`` (poll until every job ended), ``collect``
    (collect the jobs that ended, without waiting), ``cancel`` (cancel the jobs, then
    collect what they finished). ``input`` may be None for the actions that follow an
    existing state file (it names the input).
    """

    output: Path
    input: Path | None = None
    model: str | None = None
    action: BatchAction = "run"
    max_resubmits: int = 2
    retry_live: bool = False
    concurrency: int = 32
    batch_size: int | None = None
    batch_bytes: int | None = None
    poll_interval_s: float | None = None
    progress: str = "auto"
    errors_file: Path | None = None
    resume_command: str = ""


@dataclass(slots=True)
class BatchRunOutcome:
    """How a batch run ended, for the summary and the exit status."""

    stats: RunStats
    output: Path
    state_file: Path
    errors_file: Path | None
    action: BatchAction
    elapsed_s: float
    jobs: list[JobRecord] = field(default_factory=list)
    fates: dict[str, int] = field(default_factory=dict)
    jobs_created: int = 0
    jobs_reattached: int = 0
    jobs_collected: int = 0
    live_cost: float = 0.0
    live_unpriced: int = 0
    detached: bool = False
    cancelled: bool = False
    repaired_bytes: int = 0
    resume_command: str = ""
    write_error: FileWriteError | None = None
    """The failed write (a full disk) that stopped the run; its jobs stay recorded, and a
    job being collected is collected again by the next run."""

    @property
    def unfinished_jobs(self) -> list[JobRecord]:
        return [job for job in self.jobs if not job.collected]

    @property
    def exit_code(self) -> int:
        """OK: done, nothing failed; SOME_FAILED: done, but some items failed or lines
        were bad; INTERRUPTED: detached or cancelled by a signal. ``submit`` and ``wait``
        end with OK (:mod:`sluicegate.cli.exit_status`)."""
        if self.detached or self.cancelled:
            return exit_status.INTERRUPTED
        if self.action in ("submit", "wait"):
            return exit_status.OK
        stats = self.stats
        return exit_status.SOME_FAILED if stats.failed or stats.bad_lines else exit_status.OK


class _BatchRun:
    """One batch run's state, shared by the submitter, the watcher, the collector and the
    signal handler (one event loop, no locks)."""

    def __init__(
        self,
        options: BatchRunOptions,
        client: Client,
        state: BatchState,
        input_path: Path,
        log: ResultLog,
        done: IdSet,
        view: BatchView,
        update: Callable[[], None],
    ) -> None:
        self.options = options
        self.client = client
        self.batches = client.batches
        self.state = state
        self.input = input_path
        self.log = log
        self.done = done
        self.view = view
        self.stats = view.stats
        self.update = update
        self.rules = LineRules.of_client(options.model, client)
        self.identity = str(options.output.resolve())
        self.watch: JobWatch | None = None
        self.work_scope = anyio.CancelScope()
        self.cancel_scope = anyio.CancelScope()
        self.second_signal = anyio.Event()
        self.interrupts = 0
        self.first_signal: int | None = None
        self.cancelling = False
        self.jobs_created = 0
        self.jobs_reattached = 0
        self.jobs_collected = 0
        self.live_cost = 0.0
        self.live_unpriced = 0

    # -- submitting -----------------------------------------------------------------------

    async def submit_input(self, bad_log: BadLineLog) -> None:
        """Read the input once and submit every line no job holds and the output lacks."""
        covered = self.state.covered_lines()
        next_covered = 0
        seen = self.done.sightings()
        planner = ChunkPlanner()
        stats = self.stats
        with self.input.open("rb") as stream:
            number = offset = 0
            for raw in stream:
                number += 1
                start, offset = offset, offset + len(raw)
                if number % _CHECKPOINT_LINES == 0:
                    # let the signal watcher and the progress run; a first Ctrl-C stops
                    # the reading here (lines not yet in a job are submitted by a rerun)
                    await anyio.lowlevel.checkpoint()
                if not raw.strip():
                    continue
                while next_covered < len(covered) and covered[next_covered] < number:
                    next_covered += 1
                held = next_covered < len(covered) and covered[next_covered] == number
                item = parse_line(raw, number, self.rules)
                if isinstance(item, InputLine):
                    if not seen.add(item.id):
                        item = BadLine(
                            number, f"duplicate id {item.id!r}: an earlier line has it", item.id
                        )
                    elif item.id in self.done:
                        stats.skipped += 1
                        continue
                    elif held:
                        continue
                if isinstance(item, BadLine):
                    self._bad(item, bad_log)
                    continue
                request = self._request(item)
                if isinstance(request, BadLine):
                    self._bad(request, bad_log)
                    continue
                api = self.batches.api(request.provider)
                try:
                    full = planner.add(api, request, number, start)
                except ItemTooLargeError as exc:
                    self._bad(BadLine(number, exc.message, item.id), bad_log)
                    continue
                stats.sent += 1
                if full is not None:
                    await self.create_job(full, attempt=1)
        for chunk in planner.flush():
            await self.create_job(chunk, attempt=1)

    def _bad(self, bad: BadLine, bad_log: BadLineLog) -> None:
        self.stats.add_bad(bad)
        bad_log.append(bad)
        self.update()

    def _request(self, item: InputLine) -> Request | BadLine:
        try:
            request = self.client.request(
                item.model, item.messages, caller_id=item.id, **item.params
            )
        except Exception as exc:  # a parameter the client refuses (a malformed tool...)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            return BadLine(item.line, f"{type(exc).__name__}: {message}", item.id)
        return request

    async def create_job(self, chunk: Chunk, *, attempt: int) -> None:
        """Create one job and record it before anything else happens. Shielded: a first
        Ctrl-C waits for the job to be recorded, so it is never created and forgotten
        (one that came before is honoured here, before the job is created)."""
        await anyio.lowlevel.checkpoint()
        with anyio.CancelScope(shield=True):
            job = await self.batches.submit_chunk(chunk)
            record = JobRecord(
                id=job.id,
                provider=job.provider,
                attempt=attempt,
                count=chunk.count,
                lines=chunk.runs(),
                state=job.state.value,
            )
            self.state.add(record)
        self.jobs_created += 1
        get_logger().info(
            "batch.job_created",
            provider=job.provider,
            job=job.id,
            requests=chunk.count,
            bytes=len(chunk.body),
            attempt=attempt,
        )
        self.view.note(job)
        if self.watch is not None:
            self.watch.add(job)
        self.update()

    # -- watching and collecting -----------------------------------------------------------

    def start_watch(self) -> JobWatch:
        """Watch every job not yet collected; those from the state file are polled at
        once (their last known state is old), each starting as "running"."""
        jobs = [
            BatchJob(record.id, record.provider, JobState.RUNNING, status=record.state)
            for record in self.state.uncollected()
        ]
        if self.watch is None:
            self.jobs_reattached = max(len(jobs) - self.jobs_created, 0)
        self.watch = self.batches.watch(jobs, poll_now=True)
        return self.watch

    async def follow(self, *, collect: bool = True, resubmit: bool = True) -> None:
        """Poll until every job ended; collect each as it ends (``collect``)."""
        watch = self.start_watch()
        self.view.phase = "waiting"
        self.update()
        async for job in watch:
            self.view.note(job)
            self.update()
            record = self.state.find(job.provider, job.id)
            if record is not None and not record.collected:
                record.state = job.state.value
            if job.terminal and collect:
                await self.collect(job, resubmit=resubmit and not self.cancelling)
        self.state.save()
        self.view.phase = "done"
        self.update()

    async def collect_ended(self) -> None:
        """Collect the jobs that have ended, without waiting for the others."""
        self.jobs_reattached = len(self.state.uncollected())
        for record in self.state.uncollected():
            job = await self.batches.retrieve(record.id, record.provider)
            self.view.note(job)
            if job.terminal:
                await self.collect(job, resubmit=True)
            else:
                record.state = job.state.value
        self.state.save()

    async def collect(self, job: BatchJob, *, resubmit: bool) -> None:
        """Write a terminal job's results, resubmit its retryable failures, and mark it
        collected. Shielded: a first Ctrl-C lets it finish, so no result is downloaded and
        dropped."""
        record = self.state.find(job.provider, job.id)
        if record is None or record.collected:
            return
        with anyio.CancelScope(shield=True):
            self.view.phase = "collecting"
            self.update()
            retry = await self._write_results(job, record, resubmit=resubmit)
            if retry:
                if self.options.retry_live:
                    await self._retry_live(retry)
                else:
                    await self._resubmit(retry, record.attempt + 1)
            record.collected = True
            record.state = job.state.value
            self.state.save()
            self.jobs_collected += 1
            self.view.phase = "waiting"
            self.update()

    async def _write_results(
        self, job: BatchJob, record: JobRecord, *, resubmit: bool
    ) -> list[Entry]:
        api = self.batches.api(job.provider)
        later = self.state.resubmitted_lines(record)
        entries: dict[str, Entry] = {}
        for entry in job_entries(self.input, record, self.rules):
            if entry.id in self.done or entry.line in later:
                continue  # written before a crash, or answered by a resubmission
            entries[api.custom_id(entry.id)] = entry

        def lookup(custom_id: str) -> Request | None:
            entry = entries.get(custom_id)
            return entry.light_request() if entry is not None else None

        retry: list[Entry] = []
        latency = job.duration_s or 0.0
        async with api.results(job, lookup) as outcomes:
            async for outcome in outcomes:
                found = entries.pop(outcome.custom_id, None)
                if found is not None:
                    self._settle(found, outcome, job, record, latency, resubmit, retry)
        for entry in entries.values():  # the job ended without a result for these
            missing = BatchOutcome(api.custom_id(entry.id), None, _missing(job, entry))
            self._settle(entry, missing, job, record, latency, resubmit, retry)
        retry.sort(key=lambda e: e.line)
        return retry

    def _settle(
        self,
        entry: Entry,
        outcome: BatchOutcome,
        job: BatchJob,
        record: JobRecord,
        latency: float,
        resubmit: bool,
        retry: list[Entry],
    ) -> None:
        request = entry.light_request()
        response = outcome.response
        if response is not None:
            cost, live = self.batches.costs(response.model, response.usage)
            response = response.replace(cost=cost, latency=latency, attempts=record.attempt)
            if live is None:
                self.live_unpriced += 1
            else:
                self.live_cost += live
            if record.attempt > 1:
                self.state.count("recovered")
            self._write(MapResult(request, response, None, latency), entry)
            return
        error = outcome.error
        assert error is not None
        error.attempts = record.attempt
        if self.cancelling and error.retryable:
            self.state.count("canceled")  # not written: a later run submits it again
            return
        if error.retryable and resubmit and record.attempt <= self.options.max_resubmits:
            self.state.count("retried_live" if self.options.retry_live else "resubmitted")
            retry.append(entry)
            return
        self.state.count("failed_after_limit" if error.retryable else "failed")
        self._write(MapResult(request, None, error, latency), entry)

    def _write(self, result: MapResult, entry: Entry) -> None:
        self.log.append(result_record(result, entry.line))
        self.done.add(entry.id)
        self.stats.add_result(result)
        self.update()

    async def _resubmit(self, entries: list[Entry], attempt: int) -> None:
        planner = ChunkPlanner()
        with self.input.open("rb") as stream:
            for entry in entries:
                item = read_line_at(stream, entry, self.rules, self.input)
                request = self._request(item)
                if isinstance(request, BadLine):  # refused now, accepted when first sent
                    raise BadInputError(request.reason, file=str(self.input), line=entry.line)
                full = planner.add(
                    self.batches.api(request.provider), request, entry.line, entry.offset
                )
                if full is not None:
                    await self.create_job(full, attempt=attempt)
        for chunk in planner.flush():
            await self.create_job(chunk, attempt=attempt)

    async def _retry_live(self, entries: list[Entry]) -> None:
        """Send the retryable failures live, through the client's whole chain (its own
        retries included), with the keys a live run of the same output would use."""
        by_id: dict[str, Entry] = {}
        requests: list[Request] = []
        with self.input.open("rb") as stream:
            for entry in entries:
                item = read_line_at(stream, entry, self.rules, self.input)
                request = self._request(item)
                if isinstance(request, BadLine):
                    raise BadInputError(request.reason, file=str(self.input), line=entry.line)
                key = line_key(self.identity, item.id, request)
                requests.append(
                    request.replace(metadata=request.metadata.replace(idempotency_key=key))
                )
                by_id[item.id] = entry
        async with self.client.map(requests, concurrency=self.options.concurrency) as results:
            async for result in results:
                entry = by_id[result.caller_id or ""]
                if result.response is not None:
                    self.state.count("recovered")
                    cost = result.response.cost
                    if cost is None:
                        self.live_unpriced += 1
                    else:
                        self.live_cost += cost
                else:
                    self.state.count("failed_after_limit")
                self._write(result, entry)

    # -- cancelling -----------------------------------------------------------------------

    async def cancel_jobs(self) -> None:
        """Cancel every job not yet collected at its provider, then collect what the jobs
        had finished (the cancelled items are left for a later run)."""
        self.cancelling = True
        self.view.phase = "cancelling"
        self.update()
        for record in self.state.uncollected():
            try:
                job = await self.batches.cancel(record.id, record.provider)
            except ProviderError as exc:  # already ended, most likely: collected below
                get_logger().info(
                    "batch.cancel_refused",
                    provider=record.provider,
                    job=record.id,
                    error=exc.message,
                )
                continue
            self.view.note(job)
            _note(f"cancelled {record.provider} job {record.id} ({job.status})")
        await self.follow(collect=True, resubmit=False)

    async def watch_signals(self, *, task_status: TaskStatus[None]) -> None:
        """First SIGINT/SIGTERM: detach. Second SIGINT: cancel the jobs. Third: give up
        waiting for the cancellation (the jobs are cancelling at the provider; the same
        command collects them later)."""
        try:
            receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
        except NotImplementedError:  # no signal support here (asyncio on Windows)
            task_status.started()
            return
        with receiver as signals:
            task_status.started()
            async for signum in signals:
                self.interrupts += 1
                if self.interrupts == 1:
                    self.first_signal = signum
                    self.work_scope.cancel()
                    if signum == signal.SIGINT:
                        _note(
                            "detaching: the jobs keep running at the provider and the same "
                            "command reattaches to them; press Ctrl-C again within "
                            f"{SECOND_SIGNAL_GRACE_S:g} s to cancel them instead"
                        )
                    else:
                        _note("detaching: the jobs keep running at the provider")
                elif self.interrupts == 2:
                    _note("cancelling the jobs at the provider (Ctrl-C again to stop waiting)")
                    self.second_signal.set()
                    self.work_scope.cancel()
                else:
                    self.cancel_scope.cancel()


def _missing(job: BatchJob, entry: Entry) -> BatchItemError:
    """The error of an item the ended job gave no result for, by how the job ended."""
    kind, retryable = {
        JobState.FAILED: ("job_failed", True),
        JobState.EXPIRED: ("expired", True),
        JobState.CANCELLED: ("canceled", True),
    }.get(job.state, ("missing", True))
    if kind == "job_failed":
        why = "; ".join(job.errors) or job.status or "failed"
        message = f"batch job {job.id} failed as a whole: {why}"
    elif kind == "missing":
        message = f"batch job {job.id} ended ({job.status}) without a result for this item"
    else:
        message = f"batch job {job.id} {job.state.value} before this item ran"
    model = entry.model.partition("/")[2]
    return BatchItemError(
        message,
        job_id=job.id,
        provider=job.provider,
        model=model,
        error_type=kind,
        retryable=retryable,
    )


def _note(text: str) -> None:
    sys.stderr.write(f"\nsluicegate batch: {text}\n")
    sys.stderr.flush()


def build_batch_client(options: BatchRunOptions) -> Client:
    """The run's client: batch limits and polling from the options; replay by
    idempotency record off, as in a live run (the output is the record)."""
    from sluicegate.middleware.idempotency import IdempotencyPolicy

    overrides: dict[str, Any] = {}
    if options.batch_size is not None:
        overrides["max_requests"] = options.batch_size
    if options.batch_bytes is not None:
        overrides["max_bytes"] = options.batch_bytes
    if options.poll_interval_s is not None:
        overrides["min_poll_interval_s"] = options.poll_interval_s
        overrides["max_poll_interval_s"] = max(options.poll_interval_s * 8, options.poll_interval_s)
    return Client(
        concurrency=options.concurrency,
        stage_settings={"idempotency": IdempotencyPolicy(ttl_s=0)},
        batch_limits={"*": overrides} if overrides else None,
    )


def _open_state(options: BatchRunOptions, errors_path: Path | None) -> tuple[BatchState, Path]:
    """The state file (new, or found), and the input it is about; refuses an input that
    changed while jobs of the state file still hold its lines, and files that are one
    file or not ours (:func:`~sluicegate.bulk.paths.check_run_files`), before anything
    is written."""
    path = state_path_for(options.output)
    if options.input is not None:
        check_run_files(options.input, options.output, errors_path, path)
    state = BatchState.load(path)
    if options.input is None:
        if state is None or not state.input:
            raise BadInputError(
                "no batch state file next to this output (submit with 'sluicegate batch "
                "submit INPUT -o OUTPUT' or 'sluicegate run INPUT -o OUTPUT --mode batch')",
                file=str(path),
            )
        input_path = Path(state.input)
        check_run_files(input_path, options.output, None, path)
    else:
        input_path = options.input
    if not input_path.exists():
        raise BadInputError("the input of these batch jobs is gone", file=str(input_path))
    digest = file_digest(input_path)
    if state is None:
        return BatchState(path, str(input_path.resolve()), digest), input_path
    if state.uncollected():
        if state.input != str(input_path.resolve()):
            raise BadInputError(
                f"the batch jobs recorded here hold lines of {state.input}, not of this input; "
                "run with that input, or give another --output",
                file=str(path),
            )
        if state.input_sha256 != digest:
            raise BadInputError(
                "the input changed since its batch jobs were submitted (their items are found "
                "by line number); restore it, or cancel the jobs ('sluicegate batch cancel') "
                "and give another --output",
                file=str(input_path),
            )
    state.input, state.input_sha256 = str(input_path.resolve()), digest
    return state, input_path


async def run_batch(
    options: BatchRunOptions,
    *,
    client: Client | None = None,
    progress_stream: IO[str] | None = None,
) -> BatchRunOutcome:
    """Run ``options.action`` for ``options.output`` and return how it ended."""
    started = time.monotonic()
    reads_input = options.action in ("run", "submit")
    errors_path = options.errors_file or errors_path_for(options.output)
    state, input_path = _open_state(options, errors_path if reads_input else None)
    stats = RunStats(total_lines=count_lines(input_path) if reads_input else 0)
    log, resumed = open_results(options.output)
    stats.already_done = len(resumed.done)
    bad_log = BadLineLog(errors_path) if reads_input else None
    write_error: FileWriteError | None = None
    progress = make_batch_progress(options.progress, progress_stream or sys.stderr)
    view = BatchView(stats)
    run: _BatchRun | None = None
    try:
        async with client or build_batch_client(options) as open_client:
            run = _BatchRun(
                options,
                open_client,
                state,
                input_path,
                log,
                resumed.done,
                view,
                lambda: progress.update(view),
            )
            progress.start()
            # An error of the steps is re-raised as itself once the signal watcher
            # stopped, not wrapped in the task group's ExceptionGroup.
            error: Exception | None = None
            try:
                async with anyio.create_task_group() as watchers:
                    await watchers.start(run.watch_signals)
                    try:
                        await _steps(run, bad_log)
                    except Exception as exc:
                        error = exc
                    watchers.cancel_scope.cancel()
            finally:
                progress.stop()
            if isinstance(error, FileWriteError):  # a full disk: summary, then exit 74
                write_error = error
            elif error is not None:
                raise error
    finally:
        log.close()
        if bad_log is not None:
            bad_log.close()
    return BatchRunOutcome(
        stats=stats,
        output=options.output,
        state_file=state.path,
        errors_file=errors_path if stats.bad_lines else None,
        action=options.action,
        elapsed_s=time.monotonic() - started,
        jobs=list(state.jobs),
        fates=dict(state.fates),
        jobs_created=run.jobs_created if run else 0,
        jobs_reattached=run.jobs_reattached if run else 0,
        jobs_collected=run.jobs_collected if run else 0,
        live_cost=run.live_cost if run else 0.0,
        live_unpriced=run.live_unpriced if run else 0,
        detached=run is not None and run.interrupts > 0 and not run.cancelling,
        cancelled=run is not None and run.cancelling and options.action != "cancel",
        repaired_bytes=resumed.torn_bytes,
        resume_command=options.resume_command,
        write_error=write_error,
    )


async def _steps(run: _BatchRun, bad_log: BadLineLog | None) -> None:
    """The action's steps, in the work scope a first signal cancels; then, after a
    signal, the grace for a second one and the cancellation it asks for."""
    action = run.options.action
    with run.work_scope:
        if action in ("run", "submit"):
            assert bad_log is not None
            await run.submit_input(bad_log)
            run.view.phase = "submitted"
        if action == "run":
            await run.follow()
        elif action == "wait":
            await run.follow(collect=False)
        elif action == "collect":
            await run.collect_ended()
        elif action == "cancel":
            await run.cancel_jobs()
            return
    if run.interrupts == 0:
        return
    if run.interrupts == 1 and run.first_signal == signal.SIGINT:
        with anyio.move_on_after(SECOND_SIGNAL_GRACE_S):
            await run.second_signal.wait()
    if run.second_signal.is_set():
        with run.cancel_scope:
            await run.cancel_jobs()
    run.state.save()
