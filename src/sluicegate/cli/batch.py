"""``sluicegate batch submit | status | wait | results | cancel | list``: provider batch
jobs by hand, around the same state file that ``sluicegate run --mode batch`` keeps next
to its output (see docs/batch.md).

The commands that follow a run take its OUTPUT file: the state file next to it names the
input and the jobs. ``status``, ``cancel`` also take ``--provider P JOB_ID...`` for jobs
created elsewhere, and ``list`` shows a provider's recent jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sluicegate.cli import exit_status
from sluicegate.cli.common import CommandError, backend_option, log_level_option, run, setup_logging

F = TypeVar("F", bound=Callable[..., Any])


def batch_options(func: F) -> F:
    """Options shared by ``sluicegate run --mode batch`` and ``sluicegate batch``."""
    func = click.option(
        "--batch-size",
        default=None,
        type=click.IntRange(min=1),
        help="Requests per job at most [default: the provider's limit, e.g. 50,000].",
    )(func)
    func = click.option(
        "--poll-interval",
        default=None,
        type=click.FloatRange(min=0),
        metavar="SECONDS",
        help="Shortest wait between status polls [default: the provider's, e.g. 5 s]; "
        "waits grow from it with backoff and jitter.",
    )(func)
    return func


def resubmit_options(func: F) -> F:
    func = click.option(
        "--max-resubmits",
        default=2,
        show_default=True,
        type=click.IntRange(min=0),
        help="How many times a failed or expired item is resubmitted before its error is written.",
    )(func)
    func = click.option(
        "--retry-live",
        is_flag=True,
        default=False,
        help="Send failed or expired items live (at the live price) instead of in a new job.",
    )(func)
    return func


def output_argument(func: F) -> F:
    return click.argument("output", type=click.Path(dir_okay=False, path_type=Path))(func)


def run_batch_command(options: Any, backend: str, log_level: str | None) -> int:
    """Run a batch action, print its summary and return the exit status."""
    from rich.console import Console

    from sluicegate.batch.run import run_batch
    from sluicegate.batch.summary import render_batch_summary
    from sluicegate.bulk.file_errors import FileWriteError
    from sluicegate.cli.run_files import WriteFailed, guarded, stop_lines

    setup_logging(log_level)
    try:
        outcome = run(backend, guarded(run_batch), options)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        message = f"cannot use{where}: {exc.strerror or exc}"
        raise CommandError(message, exit_status.of_error(exc)) from None
    if isinstance(outcome, FileWriteError):  # (run_batch returns it in its outcome)
        raise WriteFailed(f"{type(outcome).__name__}: {outcome.message}")
    console = Console()
    render_batch_summary(outcome, console)
    if outcome.write_error is not None:
        error = outcome.write_error
        click.echo(f"Error: {type(error).__name__}: {error.message}", err=True)
        for line in stop_lines(error, outcome.output, outcome.resume_command):
            console.print(line, highlight=False, soft_wrap=True)
        return exit_status.IO_ERROR
    return outcome.exit_code


@click.group("batch", epilog=exit_status.HELP_TEXT)
def command() -> None:
    """Provider batch jobs (half price, results within 24 h) for a JSONL input.

    'sluicegate run INPUT -o OUTPUT --mode batch' does it all in one go: submit, wait,
    collect, resubmit failures. These commands do one step each, on the same state file
    (OUTPUT.batches.json).
    """


@command.command("submit")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-m", "--model", default=None, help="Model for lines that name none.")
@click.option(
    "--errors-file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where bad input lines are reported [default: OUTPUT with .errors.jsonl].",
)
@click.option("--no-progress", is_flag=True, default=False)
@batch_options
@backend_option
@log_level_option
@click.pass_context
def submit(
    ctx: click.Context,
    input: Path,
    output: Path,
    model: str | None,
    errors_file: Path | None,
    no_progress: bool,
    batch_size: int | None,
    poll_interval: float | None,
    backend: str,
    log_level: str | None,
) -> None:
    """Submit INPUT's lines as batch jobs and return; the jobs are recorded next to
    OUTPUT. Lines already in OUTPUT, or held by a job recorded there, are not submitted
    again."""
    from sluicegate.batch.run import BatchRunOptions

    options = BatchRunOptions(
        output=output,
        input=input,
        model=model,
        action="submit",
        batch_size=batch_size,
        poll_interval_s=poll_interval,
        progress="none" if no_progress else "auto",
        errors_file=errors_file,
    )
    ctx.exit(run_batch_command(options, backend, log_level))


def _follow(action: str) -> Callable[..., None]:
    @output_argument
    @click.option("--no-progress", is_flag=True, default=False)
    @batch_options
    @resubmit_options
    @backend_option
    @log_level_option
    @click.pass_context
    def follow(
        ctx: click.Context,
        output: Path,
        no_progress: bool,
        batch_size: int | None,
        poll_interval: float | None,
        max_resubmits: int,
        retry_live: bool,
        backend: str,
        log_level: str | None,
    ) -> None:
        from sluicegate.batch.run import BatchRunOptions

        options = BatchRunOptions(
            output=output,
            action=action,  # type: ignore[arg-type]
            batch_size=batch_size,
            poll_interval_s=poll_interval,
            max_resubmits=max_resubmits,
            retry_live=retry_live,
            progress="none" if no_progress else "auto",
            resume_command=f"sluicegate batch results {output}",
        )
        ctx.exit(run_batch_command(options, backend, log_level))

    return follow


command.command(
    "wait",
    help="Poll OUTPUT's jobs until every one has ended (without collecting them).",
)(_follow("wait"))
command.command(
    "results",
    help="Write the results of OUTPUT's jobs that have ended, and resubmit their failed "
    "or expired items; jobs still running are left (run again later).",
)(_follow("collect"))


@command.command("cancel")
@click.argument("output", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--provider", default=None, help="With JOB_IDs: the provider they belong to.")
@click.option("--job", "job_ids", multiple=True, metavar="JOB_ID", help="A job to cancel.")
@click.option("--no-progress", is_flag=True, default=False)
@batch_options
@backend_option
@log_level_option
@click.pass_context
def cancel(
    ctx: click.Context,
    output: Path | None,
    provider: str | None,
    job_ids: tuple[str, ...],
    no_progress: bool,
    batch_size: int | None,
    poll_interval: float | None,
    backend: str,
    log_level: str | None,
) -> None:
    """Cancel OUTPUT's jobs at the provider, then write what they had finished (the
    cancelled items are submitted again by a later run). With --provider and --job, cancel
    those jobs only, wherever they came from."""
    if job_ids:
        if provider is None:
            raise click.UsageError("--job needs --provider")
        setup_logging(log_level)
        jobs = run(backend, _cancel_jobs, provider, job_ids)
        _print_jobs(jobs)
        return
    if output is None:
        raise click.UsageError("give OUTPUT, or --provider P --job JOB_ID")
    from sluicegate.batch.run import BatchRunOptions

    options = BatchRunOptions(
        output=output,
        action="cancel",
        batch_size=batch_size,
        poll_interval_s=poll_interval,
        progress="none" if no_progress else "auto",
        resume_command=f"sluicegate batch results {output}",
    )
    ctx.exit(run_batch_command(options, backend, log_level))


@command.command("status")
@click.argument("output", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--provider", default=None, help="With --job: the provider they belong to.")
@click.option("--job", "job_ids", multiple=True, metavar="JOB_ID")
@backend_option
@log_level_option
def status(
    output: Path | None,
    provider: str | None,
    job_ids: tuple[str, ...],
    backend: str,
    log_level: str | None,
) -> None:
    """The jobs of OUTPUT's state file (those not yet collected asked for their state
    now), or the jobs given with --provider and --job."""
    setup_logging(log_level)
    if job_ids:
        if provider is None:
            raise click.UsageError("--job needs --provider")
        _print_jobs(run(backend, _retrieve_jobs, provider, job_ids))
        return
    if output is None:
        raise click.UsageError("give OUTPUT, or --provider P --job JOB_ID")
    from sluicegate.batch.state import BatchState, state_path_for

    state = BatchState.load(state_path_for(output))
    if state is None:
        raise CommandError(f"no batch state file next to {output}", exit_status.USAGE)
    fresh = run(
        backend,
        _retrieve_records,
        [(r.provider, r.id) for r in state.jobs if not r.collected],
    )
    _print_state(state, fresh)


@command.command("list")
@click.option("--provider", required=True, help="The provider whose jobs to list.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@backend_option
@log_level_option
def list_jobs(provider: str, limit: int, backend: str, log_level: str | None) -> None:
    """A provider's most recent batch jobs (all of them, not only sluicegate's)."""
    setup_logging(log_level)
    _print_jobs(run(backend, _list_jobs, provider, limit))


async def _cancel_jobs(provider: str, job_ids: tuple[str, ...]) -> list[Any]:
    import sluicegate

    async with sluicegate.Client() as client:
        return [await client.batches.cancel(job_id, provider) for job_id in job_ids]


async def _retrieve_jobs(provider: str, job_ids: tuple[str, ...]) -> list[Any]:
    import sluicegate

    async with sluicegate.Client() as client:
        return [await client.batches.retrieve(job_id, provider) for job_id in job_ids]


async def _retrieve_records(refs: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    import sluicegate

    if not refs:
        return {}
    async with sluicegate.Client() as client:
        return {
            (provider, job_id): await client.batches.retrieve(job_id, provider)
            for provider, job_id in refs
        }


async def _list_jobs(provider: str, limit: int) -> list[Any]:
    import sluicegate

    async with sluicegate.Client() as client:
        return await client.batches.list(provider, limit)


def _job_table(title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("provider", "left"),
        ("job", "left"),
        ("state", "left"),
        ("done/total", "right"),
        ("failed", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    return table


def _print_jobs(jobs: list[Any]) -> None:
    from rich.console import Console

    table = _job_table("batch jobs")
    for job in jobs:
        table.add_row(
            job.provider,
            job.id,
            f"{job.state.value} ({job.status})",
            f"{job.counts.done:,}/{job.counts.total:,}",
            f"{job.counts.failed:,}",
        )
    Console().print(table)


def _print_state(state: Any, fresh: dict[tuple[str, str], Any]) -> None:
    from rich.console import Console

    table = _job_table(f"batch jobs of {state.input}")
    table.add_column("attempt", justify="right")
    table.add_column("collected")
    for record in state.jobs:
        job = fresh.get((record.provider, record.id))
        if job is None:
            row = [record.state or "?", f"-/{record.count:,}", "-"]
        else:
            row = [
                f"{job.state.value} ({job.status})",
                f"{job.counts.done:,}/{job.counts.total:,}",
                f"{job.counts.failed:,}",
            ]
        table.add_row(
            record.provider,
            record.id,
            *row,
            str(record.attempt),
            "yes" if record.collected else "no",
        )
    Console().print(table)


for _subcommand in command.commands.values():
    _subcommand.epilog = exit_status.HELP_TEXT  # every --help ends with the exit statuses
