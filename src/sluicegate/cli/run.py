"""``sluicegate run INPUT.jsonl -o OUTPUT.jsonl``: every input line through a model, one
output line per id, resumable; see docs/bulk-runs.md."""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from sluicegate.bulk.file_errors import FileWriteError, RefusedFileError
from sluicegate.cli import exit_status
from sluicegate.cli.batch import batch_options, resubmit_options, run_batch_command
from sluicegate.cli.common import (
    CommandError,
    backend_option,
    log_level_option,
    run,
    run_sync,
    setup_logging,
    store_option,
    total_timeout_option,
    total_timeout_setting,
)
from sluicegate.cli.run_files import (
    RefusedFileUsage,
    count_newlines,
    guarded,
    guarded_sync,
    stop_lines,
)

if TYPE_CHECKING:
    from sluicegate.bulk.rows import InputSpec
    from sluicegate.structured.schema import AnswerSchema


def _resume_command(ctx: click.Context) -> str:
    """The command as given (options left at their defaults omitted): what the summary
    tells the user to run again to resume."""
    parts = ["sluicegate", "run", str(ctx.params["input"])]
    for param in ctx.command.params:
        name = param.name
        if name is None or name == "input" or not isinstance(param, click.Option):
            continue
        if ctx.get_parameter_source(name) in (None, ParameterSource.DEFAULT):
            continue
        value = ctx.params[name]
        if param.is_flag:
            flags = param.opts if value else param.secondary_opts
            if flags:
                parts.append(flags[0])
            continue
        long_name = next((o for o in param.opts if o.startswith("--")), param.opts[0])
        parts += [long_name, str(value)]
    return shlex.join(parts)


@click.command("run", epilog=exit_status.HELP_TEXT)
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results, one JSON line per input id; appended to, so re-running resumes.",
)
@click.option(
    "-m",
    "--model",
    default=None,
    help="Model for lines that name none (provider/model); also the provider of bare "
    "model names such as OpenAI batch files have.",
)
@click.option(
    "--input-format",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="How INPUT is read: auto is csv for a name ending in .csv, else jsonl.",
)
@click.option(
    "--template",
    default=None,
    metavar="TEXT",
    help="A prompt made of each row's columns (or each JSONL line's fields): "
    "'Classify: {text}' ({{ and }} for literal braces). Needed for a CSV without a "
    "'prompt' column.",
)
@click.option(
    "--id-column",
    default="id",
    show_default=True,
    metavar="NAME",
    help="With a CSV or --template: the column (or field) that holds each row's id.",
)
@click.option(
    "--system",
    default=None,
    metavar="TEXT",
    help="With --template: a system message before each rendered prompt (a row's own "
    "'system' is not used then).",
)
@click.option(
    "--schema",
    "schema_file",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="A JSON Schema every answer must fit: asked for by each provider's JSON mode, "
    "parsed, re-asked when it does not fit; result lines carry 'parsed'.",
)
@click.option(
    "--reasks",
    default=None,
    type=click.IntRange(min=0, max=10),
    help="With --schema: how many times a model is asked again after an answer that does "
    "not fit (default 2).",
)
@click.option(
    "-c",
    "--concurrency",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests in flight at most.",
)
@click.option(
    "--rpm", default=None, type=click.IntRange(min=1), help="Requests per minute, per model."
)
@click.option(
    "--tpm", default=None, type=click.IntRange(min=1), help="Tokens per minute, per model."
)
@click.option(
    "--burst",
    default=0.1,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True, max=60),
    metavar="SECONDS",
    help="How much of --rpm/--tpm may leave at once, in seconds of the rate: 0.1 paces "
    "evenly (what per-second limiters in front of APIs accept); 60 sends a minute's "
    "quota at once.",
)
@click.option(
    "--budget",
    default=None,
    type=click.FloatRange(min=0),
    metavar="USD",
    help="Stop sending once this much is spent (reserved before each request).",
)
@click.option(
    "--patience",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="How long to wait for a model that answers nothing (its circuit open, a long "
    "server-requested wait, failing); then its lines are left pending for the next run.",
)
@click.option(
    "--errors-file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where bad input lines are reported [default: OUTPUT with .errors.jsonl].",
)
@click.option(
    "--no-progress",
    is_flag=True,
    default=False,
    help="No progress on stderr (default: a bar on a terminal, a line every 10 s otherwise).",
)
@click.option(
    "--mode",
    type=click.Choice(["live", "batch"]),
    default="live",
    show_default=True,
    help="live: send each request now; batch: through the providers' batch APIs, at "
    "their batch price, results within 24 h (see docs/batch.md).",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: send from this process; ray: from an actor pool on a Ray cluster, the "
    "same files and guarantees (needs sluicegate[ray]; limits and --budget need --store; "
    "see docs/scale-out.md).",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDRESS",
    help="With --engine ray: the cluster to join (host:port, ray://host:10001, auto) "
    "[default: a local cluster on 127.0.0.1].",
)
@click.option(
    "--ray-actors",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="With --engine ray: actors in the pool, each with --concurrency in flight.",
)
@click.option(
    "--ray-batch-size",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="With --engine ray: lines per batch handed to an actor.",
)
@total_timeout_option
@store_option
@batch_options
@resubmit_options
@backend_option
@log_level_option
@click.pass_context
def command(
    ctx: click.Context,
    input: Path,
    output: Path,
    model: str | None,
    input_format: str,
    template: str | None,
    id_column: str,
    system: str | None,
    schema_file: Path | None,
    reasks: int | None,
    concurrency: int,
    rpm: int | None,
    tpm: int | None,
    burst: float,
    budget: float | None,
    patience: float,
    errors_file: Path | None,
    no_progress: bool,
    mode: str,
    engine: str,
    ray_address: str | None,
    ray_actors: int,
    ray_batch_size: int,
    total_timeout: float,
    store: str | None,
    batch_size: int | None,
    poll_interval: float | None,
    max_resubmits: int,
    retry_live: bool,
    backend: str,
    log_level: str | None,
) -> None:
    """Send every line of INPUT (JSONL, or CSV rows) and write one result line per id to
    OUTPUT.

    Lines are OpenAI batch lines ({"custom_id", "body": {...}}) or {"id", "prompt"}. A
    CSV (its header names the columns) is read through --template, each row's id in
    --id-column; --template also renders JSONL lines' fields. See docs/bulk-runs.md.
    Re-running the same command resumes: ids already in OUTPUT are skipped. Bad lines are
    reported with their numbers and never stop the run. Ctrl-C stops taking lines and
    waits for those in flight; a second Ctrl-C cancels them.

    While a model's circuit is open or it asked to wait, its lines are held (other
    models' lines go on) and sent when it is back. A line that failed only for a passing
    cause (5xx, timeout, 429, open circuit) is pending, never written as an error: a
    model that answers nothing for --patience seconds (or asks to wait longer) is left
    for the next run, which sends exactly the pending lines.

    With --mode batch the lines go through the providers' batch APIs (half price,
    results within 24 h): jobs are recorded in OUTPUT.batches.json, so re-running the
    same command reattaches to them; failed or expired items are resubmitted. Ctrl-C
    detaches (the jobs keep running); Ctrl-C twice cancels them. See docs/batch.md.
    """
    from rich.console import Console

    from sluicegate.bulk.runner import RunOptions, run_file
    from sluicegate.bulk.summary import render_summary

    if model is not None and "/" not in model.strip("/") and model not in _aliases(ctx):
        raise click.BadParameter(
            f"{model!r}: name it provider/model, e.g. mock/fast, or use an alias of the "
            "config file",
            param_hint="--model",
        )
    ray_only = [
        name
        for name in ("ray_address", "ray_actors", "ray_batch_size")
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
    ]
    if ray_only and engine != "ray":
        raise click.UsageError(f"--{ray_only[0].replace('_', '-')} is for --engine ray")
    if engine == "ray" and mode == "batch":
        raise click.UsageError("--engine ray is for --mode live: a batch job runs at the provider")
    input_spec = _input_spec(ctx, input, mode)
    if schema_file is None and reasks is not None:
        raise click.UsageError("--reasks is for --schema")
    if schema_file is not None and mode == "batch":
        raise click.UsageError("--schema is not yet supported with --mode batch; run it live")
    answer_schema = None if schema_file is None else _schema(schema_file)
    if mode == "batch":
        ctx.exit(_batch_mode(ctx, input, output, model, concurrency, errors_file, no_progress))
    live_only = [
        name
        for name in ("batch_size", "poll_interval", "max_resubmits", "retry_live")
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
    ]
    if live_only:
        flag = "--" + live_only[0].replace("_", "-")
        raise click.UsageError(f"{flag} is for --mode batch")
    from sluicegate.bulk.output import errors_path_for
    from sluicegate.bulk.paths import check_run_files

    errors_path = errors_file or errors_path_for(output)
    try:  # before anything is opened for writing
        check_run_files(input, output, errors_path)
    except RefusedFileError as exc:
        raise RefusedFileUsage(exc) from None
    setup_logging(log_level)
    options = RunOptions(
        input=input,
        output=output,
        model=model,
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        burst_s=burst,
        budget=budget,
        progress="none" if no_progress else "auto",
        errors_file=errors_file,
        resume_command=_resume_command(ctx),
        patience=patience,
        total_timeout=total_timeout_setting(total_timeout),
        store=store,
        input_spec=input_spec,
        schema=answer_schema,
        reasks=reasks,
    )
    lines_before, started = count_newlines(output), time.monotonic()
    try:
        if engine == "ray":
            from sluicegate.ray_data.engine import RayEngine, run_on_ray

            ray_engine = RayEngine(ray_address, ray_actors, ray_batch_size, backend)
            outcome = run_sync(guarded_sync(run_on_ray), options, ray_engine)
        else:
            from sluicegate.bulk.heap import pin_mmap_threshold

            pin_mmap_threshold()  # asyncio's 256 KiB socket reads: not from the heap
            outcome = run(backend, guarded(run_file), options)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        message = f"cannot use{where}: {exc.strerror or exc}"
        raise CommandError(message, exit_status.of_error(exc)) from None
    if isinstance(outcome, FileWriteError):
        ctx.exit(_write_failed(outcome, options, lines_before, time.monotonic() - started))
    render_summary(outcome, Console())
    ctx.exit(outcome.exit_code)


def _aliases(ctx: click.Context) -> Mapping[str, str]:
    """The model aliases of the command's config file (none when it has none, or when it
    cannot be read: the run's client then reports what is wrong with it)."""
    from sluicegate.config.file import load_config
    from sluicegate.errors import ConfigError

    found = ctx.find_root().meta.get("sluicegate.config")
    path = getattr(found, "path", None)
    if not path:
        return {}
    try:
        return load_config(path).aliases
    except ConfigError:
        return {}


def _schema(path: Path) -> AnswerSchema:
    """The ``--schema`` file's schema, or a usage error naming the file and what is wrong."""
    from sluicegate.errors import ConfigError
    from sluicegate.structured.schema_file import load_schema_file

    try:
        return load_schema_file(path)
    except ConfigError as exc:
        raise click.BadParameter(exc.message, param_hint="'--schema'") from None


def _input_spec(ctx: click.Context, input: Path, mode: str) -> InputSpec:
    """How INPUT is read (``--input-format``, ``--template``, ``--id-column``,
    ``--system``), checked before any file is opened for writing: a CSV's header must hold
    what the template and the id column name (a usage error naming what it lacks)."""
    from sluicegate.bulk.rows import (
        InputSpec,
        TemplateError,
        check_input,
        input_format,
        parse_template,
    )
    from sluicegate.errors import BadInputError

    params = ctx.params
    fmt = input_format(input, params["input_format"])
    text: str | None = params["template"]
    given = [
        name
        for name in ("template", "id_column", "system")
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
    ]
    if mode == "batch" and (fmt == "csv" or given):
        what = "a CSV input" if fmt == "csv" else f"--{given[0].replace('_', '-')}"
        raise click.UsageError(
            f"{what} is for --mode live: a batch run reads JSONL lines as they are (its "
            "jobs find their items by line and offset); render the rows to JSONL first"
        )
    if text is None:
        if params["system"] is not None:
            raise click.UsageError(
                "--system is for --template (a line's own 'system' field gives it otherwise)"
            )
        if fmt != "csv" and "id_column" in given:
            raise click.UsageError(
                "--id-column is for a CSV or --template (a JSONL line names its own 'id')"
            )
    try:
        template = None if text is None else parse_template(text)
    except TemplateError as exc:
        raise click.BadParameter(str(exc), param_hint="'--template'") from None
    spec = InputSpec(fmt, template, params["system"], params["id_column"])
    try:
        check_input(input, spec)
    except BadInputError as exc:
        raise click.UsageError(exc.message) from None
    return spec


def _write_failed(error: FileWriteError, options: Any, lines_before: int, elapsed: float) -> int:
    """The end of a run whose output or errors file could not be written: the error on
    stderr, the summary of what was written, how to resume; IO_ERROR."""
    from rich.console import Console

    from sluicegate.bulk.stats import RunStats
    from sluicegate.bulk.summary import RunOutcome, render_summary

    click.echo(f"Error: {type(error).__name__}: {error.message}", err=True)
    stats = RunStats(written=max(count_newlines(options.output) - lines_before, 0))
    outcome = RunOutcome(
        stats=stats,
        output=options.output,
        errors_file=None,
        interrupted=False,
        stopped_reason=None,
        resume_command=options.resume_command,
        elapsed_s=elapsed,
    )
    console = Console()
    render_summary(outcome, console)
    for line in stop_lines(error, options.output, options.resume_command):
        console.print(line, highlight=False, soft_wrap=True)
    return exit_status.IO_ERROR


def _batch_mode(
    ctx: click.Context,
    input: Path,
    output: Path,
    model: str | None,
    concurrency: int,
    errors_file: Path | None,
    no_progress: bool,
) -> int:
    """``--mode batch``: the same files, through the batch APIs."""
    from sluicegate.batch.run import BatchRunOptions

    params = ctx.params
    for name in ("rpm", "tpm", "budget"):
        if params[name] is not None:
            raise click.UsageError(
                f"--{name} is for --mode live: a batch job's pace is the provider's"
            )
    if ctx.get_parameter_source("burst") not in (None, ParameterSource.DEFAULT):
        raise click.UsageError("--burst is for --mode live: a batch job's pace is the provider's")
    if ctx.get_parameter_source("patience") not in (None, ParameterSource.DEFAULT):
        raise click.UsageError("--patience is for --mode live: a batch job waits by itself")
    if ctx.get_parameter_source("total_timeout") not in (None, ParameterSource.DEFAULT):
        # (--retry-live's requests keep the client's default of 600 s)
        raise click.UsageError("--total-timeout is for --mode live: a batch job has no request")
    options = BatchRunOptions(
        output=output,
        input=input,
        model=model,
        action="run",
        max_resubmits=params["max_resubmits"],
        retry_live=params["retry_live"],
        concurrency=concurrency,
        batch_size=params["batch_size"],
        poll_interval_s=params["poll_interval"],
        progress="none" if no_progress else "auto",
        errors_file=errors_file,
        resume_command=_resume_command(ctx),
    )
    return run_batch_command(options, params["backend"], params["log_level"])
