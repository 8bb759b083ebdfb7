"""``sluicegate run --engine ray``: the same input and output files as a local run, the
requests sent by an actor pool on a Ray cluster.

The driver (this process) keeps every guarantee a local run gives that depends on the
files: it reads the input once, reports bad lines by number (to the same errors file),
skips the ids already in the output, and appends each result line the moment its batch
comes back, so a killed driver leaves a consistent output and the same command resumes.
A CSV or a ``--template`` is read here as a local run reads it
(:mod:`sluicegate.bulk.rows`), and each row's simple-form record goes as a JSON line.
The actors send the lines, with the same idempotency keys a local run of the same
output file would use (:func:`~sluicegate.bulk.runner.line_key`), so a line answered
but not yet written when the driver died is replayed from the shared store on resume
(``attempts`` 0, not charged again).

What differs, by design:

- **Limits and budgets need the store** when there is more than one actor: each actor
  would otherwise keep its own ``--rpm``, and N actors would send N times it.
- **Holding**: each actor holds and retries its own batch's lines while their model is
  paused, for ``--patience``; lines still unanswered come back pending and are not
  written (exit status 75: run the same command again), as in a local run. There is no
  second pass over the input in the same run.
- **Ctrl-C** (or SIGTERM) stops at once: the lines in flight on the cluster are not
  waited for (they are sent again, or replayed, by the resume).
- The input is read to its end before anything is sent (it becomes a Ray dataset): a
  pipe is refused; the lines to send are held in the cluster's object store.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from sluicegate.bulk.idset import IdSet
from sluicegate.bulk.input import BadLine, InputLine, LineRules, parse_record
from sluicegate.bulk.output import BadLineLog, ResultLog, errors_path_for, open_results
from sluicegate.bulk.progress import Progress, make_progress
from sluicegate.bulk.rows import Row, check_input, read_rows
from sluicegate.bulk.runner import RunOptions, count_lines, is_stream
from sluicegate.bulk.stats import RunStats
from sluicegate.bulk.summary import RunOutcome
from sluicegate.client import Client
from sluicegate.errors import BadInputError
from sluicegate.ray_data.cluster import connect
from sluicegate.ray_data.job import check_shared_limits, map_chat
from sluicegate.stores.redis.config import store_from_setting

if TYPE_CHECKING:
    import pyarrow

__all__ = ["RayEngine", "run_on_ray"]

INPUT_COLUMN = "sg_input"
NUMBER_COLUMN = "sg_line"


@dataclass(frozen=True, slots=True)
class RayEngine:
    """Where and how wide: ``address`` of a running cluster (None: a local one on
    127.0.0.1), ``actors`` in the pool, ``batch_size`` lines per batch (each actor
    sends a batch's lines ``concurrency`` at a time), the actors' event loop."""

    address: str | None = None
    actors: int = 2
    batch_size: int = 64
    backend: str = "asyncio"


def run_on_ray(
    options: RunOptions, engine: RayEngine, *, progress_stream: IO[str] | None = None
) -> RunOutcome:
    """Run ``options.input`` into ``options.output`` on a Ray cluster; how it ended."""
    if options.input.resolve() == options.output.resolve():
        raise BadInputError("the output file must not be the input file", file=str(options.input))
    if is_stream(options.input):
        raise BadInputError(
            "--engine ray reads a file, not a pipe: it is read to its end before sending",
            file=str(options.input),
        )
    check_input(options.input, options.input_spec)
    check_shared_limits(
        engine.actors, options.store, rpm=options.rpm, tpm=options.tpm, budget=options.budget
    )
    started = time.monotonic()
    stats = RunStats(total_lines=count_lines(options.input, options.input_spec))
    rules = _line_rules(options.model, options.store)
    log, resumed = open_results(options.output)
    stats.already_done = len(resumed.done)
    errors_path = options.errors_file or errors_path_for(options.output)
    bad_log = BadLineLog(errors_path)
    progress = make_progress(options.progress, progress_stream or sys.stderr)
    interrupted = False
    stopped_reason: str | None = None
    try:
        stats.new_pass()
        rows = _rows_to_send(options, rules, resumed.done, stats)
        for bad in rows.bad:
            bad_log.append(bad)
        stats.sent = len(rows.rows)
        progress.start()
        try:
            with _interrupts_as_keyboard_interrupt():
                stopped_reason = _send(
                    options, engine, rows.rows, resumed.cost, log, stats, progress
                )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            progress.stop()
    finally:
        log.close()
        bad_log.close()
    return RunOutcome(
        stats=stats,
        output=options.output,
        errors_file=errors_path if stats.bad_lines else None,
        interrupted=interrupted,
        stopped_reason=stopped_reason,
        resume_command=options.resume_command,
        elapsed_s=time.monotonic() - started,
        repaired_bytes=resumed.torn_bytes,
    )


def _line_rules(model: str | None, store: str | None) -> LineRules:
    """What each line is checked against: the providers and aliases the actors' clients
    will know (the same plugins and config file, found here); the store's URL is checked
    on the way."""
    import anyio

    store_from_setting(store)

    async def rules() -> LineRules:
        async with Client(store="memory") as client:
            return LineRules.of_client(model, client)

    return anyio.run(rules)


@dataclass(slots=True)
class _Rows:
    rows: list[dict[str, Any]]
    bad: list[BadLine]


def _rows_to_send(options: RunOptions, rules: LineRules, done: IdSet, stats: RunStats) -> _Rows:
    """The input's good rows (JSONL lines, CSV rows, rendered templates:
    :mod:`sluicegate.bulk.rows`) not yet in the output, as rows (line number, the record
    as a JSON line, which the actors parse as a local run would); bad lines counted and
    returned for the errors file."""
    rows: list[dict[str, Any]] = []
    bad: list[BadLine] = []
    seen = done.sightings()
    for row in read_rows(options.input, options.input_spec):
        number = row.line
        item = parse_record(row.record, number, rules) if isinstance(row, Row) else row
        if isinstance(item, InputLine) and not seen.add(item.id):
            item = BadLine(number, f"duplicate id {item.id!r}: an earlier line has it", item.id)
        if isinstance(item, BadLine):
            stats.add_bad(item)
            bad.append(item)
        elif item.id in done:
            stats.skipped += 1
        else:
            assert isinstance(row, Row)
            rows.append({NUMBER_COLUMN: number, INPUT_COLUMN: json.dumps(row.record)})
    return _Rows(rows, bad)


def _send(
    options: RunOptions,
    engine: RayEngine,
    rows: list[dict[str, Any]],
    spent: float,
    log: ResultLog,
    stats: RunStats,
    progress: Progress,
) -> str | None:
    """Send ``rows`` on the cluster and write each result as its batch comes back; the
    reason the run ended short (the budget refused lines), if it did."""
    if not rows:
        return None
    import ray
    import ray.data

    connect(engine.address)
    _quiet_ray()
    try:
        budget = None if options.budget is None else max(options.budget - spent, 0.0)
        answered = map_chat(
            ray.data.from_items(rows),
            model=options.model,
            store=options.store,
            run_id=str(options.output.resolve()),  # the local engine's keys, line for line
            actors=engine.actors,
            batch_size=engine.batch_size,
            concurrency=options.concurrency,
            rpm=options.rpm,
            tpm=options.tpm,
            burst_s=options.burst_s,
            budget=budget,
            budget_name=f"run {secrets.token_hex(8)}",
            patience=options.patience,
            total_timeout=options.total_timeout,
            backend=engine.backend,
            input_column=INPUT_COLUMN,
            number_column=NUMBER_COLUMN,
            schema=None if options.schema is None else options.schema.as_response_format(),
            reasks=options.reasks,
        )
        columns = ["pending", "error_type", "result_json"]
        batches: Iterable[pyarrow.Table] = answered.select_columns(columns).iter_batches(
            batch_format="pyarrow", batch_size=None
        )
        # After a budget refusal the job runs on to its end: the actors' later requests
        # are refused without being sent (at once), and every answer already made is
        # still written rather than lost with its batch.
        stopped: str | None = None
        for batch in batches:
            for row in batch.to_pylist():
                if _take(row, log, stats):
                    stopped = "the budget is spent"
            progress.update(stats)
        return stopped
    finally:
        ray.shutdown()


def _take(row: dict[str, Any], log: ResultLog, stats: RunStats) -> bool:
    """Write one row's result, or count it pending or refused; True for a budget
    refusal (the line is left for a resume with a larger budget)."""
    record = json.loads(row["result_json"])
    error_type = row["error_type"]
    if error_type == "BudgetExceededError":
        stats.refused += 1
        return True
    if row["pending"]:
        stats.returned_pending += 1
        model = str(record.get("model"))
        if error_type == "ModelUnavailableError":
            stats.add_pending(model, "given_up")
        else:
            stats.add_pending(model, "poison")
            stats.poison_errors.setdefault(model, Counter())[str(error_type)] += 1
        return False
    log.append(record)
    stats.add_record(record)
    return False


def _quiet_ray() -> None:
    """No Ray Data progress bars or execution logs on the run's stderr: the run shows
    its own progress and summary."""
    from ray.data import DataContext

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    context = DataContext.get_current()
    context.enable_progress_bars = False


@contextmanager
def _interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM as Ctrl-C while the run waits on the cluster: either stops the run,
    which then writes its summary."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
