"""``sluicegate fanout PROMPT -m A -m B``: the same question to several models at once, in
one table with latency, tokens, cost, and each answer or error."""

from __future__ import annotations

import math

import click

from sluicegate.cli import exit_status
from sluicegate.cli.common import (
    ask_models,
    backend_option,
    error_line,
    log_level_option,
    max_tokens_option,
    models_option,
    run,
    setup_logging,
    store_option,
    total_timeout_option,
)
from sluicegate.cli.printing import scrub_answer, tokens_text


async def _fanout(
    prompt: str,
    models: tuple[str, ...],
    max_tokens: int | None,
    total_timeout: float = 600.0,
    store: str | None = None,
) -> int:
    """Show the answers; return the exit status."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from sluicegate.cost.rates import format_usd

    results = await ask_models(prompt, models, max_tokens, total_timeout, store)
    table = Table(title=Text(f"fan-out: {prompt[:60]!r}"), show_lines=True)
    table.add_column("model", style="bold")
    table.add_column("latency", justify="right")
    table.add_column("tokens in/out", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("answer or error", overflow="fold")
    known: list[float] = []
    unknown = 0
    for result in results:
        latency = f"{result.latency * 1000:.0f} ms"
        if result.response is not None:
            usage = result.response.usage
            cost = result.response.cost
            if cost is None:
                unknown += 1
            else:
                known.append(cost)
            table.add_row(
                result.model,
                latency,
                tokens_text(usage, short=True),
                format_usd(cost),
                Text(scrub_answer(result.response.text)),
            )
        else:
            error = Text(error_line(result.error), style="red")  # as text, never markup
            table.add_row(result.model, latency, "-", "-", error)
    total = format_usd(math.fsum(known)) if known or not unknown else "?"
    if unknown and known:
        total += " + ?"  # a lower bound: some answers have no known price
    table.add_section()
    table.add_row("total", "", "", total, "")
    Console().print(table)
    return exit_status.of_answers([None if r.ok else r.error for r in results])


@click.command("fanout", epilog=exit_status.HELP_TEXT)
@click.argument("prompt")
@models_option
@max_tokens_option
@total_timeout_option
@store_option
@backend_option
@log_level_option
def command(
    prompt: str,
    models: tuple[str, ...],
    max_tokens: int | None,
    total_timeout: float,
    store: str | None,
    backend: str,
    log_level: str | None,
) -> None:
    """Ask several models PROMPT at once and compare."""
    setup_logging(log_level)
    status = run(backend, _fanout, prompt, models, max_tokens, total_timeout, store)
    if status != exit_status.OK:
        raise SystemExit(status)
