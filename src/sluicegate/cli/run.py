"""``sluicegate run INPUT.jsonl -o OUTPUT.jsonl``: every input line through a model, one
output line per id, resumable; see docs/bulk-runs.md."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from sluicegate.cli.common import backend_option, log_level_option, run, setup_logging


def _resume_command(ctx: click.Context) -> str:
    """The command as given (options left at their defaults omitted): what the summary
    tells the user to run again to resume."""
    from click.core import ParameterSource

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


@click.command("run")
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
    "--budget",
    default=None,
    type=click.FloatRange(min=0),
    metavar="USD",
    help="Stop sending once this much is spent (reserved before each request).",
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
@backend_option
@log_level_option
@click.pass_context
def command(
    ctx: click.Context,
    input: Path,
    output: Path,
    model: str | None,
    concurrency: int,
    rpm: int | None,
    tpm: int | None,
    budget: float | None,
    errors_file: Path | None,
    no_progress: bool,
    backend: str,
    log_level: str | None,
) -> None:
    """Send every line of INPUT (JSONL) and write one result line per id to OUTPUT.

    Lines are OpenAI batch lines ({"custom_id", "body": {...}}) or {"id", "prompt"}.
    Re-running the same command resumes: ids already in OUTPUT are skipped. Bad lines are
    reported with their numbers and never stop the run. Ctrl-C stops taking lines and
    waits for those in flight; a second Ctrl-C cancels them.

    Exit status: 0 all answered; 1 some failed or bad lines; 3 stopped by the budget;
    130 interrupted.
    """
    from rich.console import Console

    from sluicegate.bulk.runner import RunOptions, run_file
    from sluicegate.bulk.summary import render_summary

    if model is not None and "/" not in model.strip("/"):
        raise click.BadParameter(
            f"{model!r}: name it provider/model, e.g. mock/fast", param_hint="--model"
        )
    setup_logging(log_level)
    options = RunOptions(
        input=input,
        output=output,
        model=model,
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        budget=budget,
        progress="none" if no_progress else "auto",
        errors_file=errors_file,
        resume_command=_resume_command(ctx),
    )
    try:
        outcome = run(backend, run_file, options)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise click.ClickException(f"cannot use{where}: {exc.strerror or exc}") from None
    render_summary(outcome, Console())
    ctx.exit(outcome.exit_code)
