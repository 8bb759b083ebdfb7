"""``sluicegate fanout PROMPT -m A -m B``: the same question to several models at once, in
one table with latency, tokens, cost, and each answer or error."""

from __future__ import annotations

import math

import click

from sluicegate.cli.common import (
    ask_models,
    backend_option,
    error_line,
    log_level_option,
    max_tokens_option,
    models_option,
    run,
    setup_logging,
    total_timeout_option,
)


async def _fanout(
    prompt: str, models: tuple[str, ...], max_tokens: int | None, total_timeout: float = 600.0
) -> int:
    from rich.console import Console
    from rich.table import Table

    from sluicegate.cost import format_usd

    results = await ask_models(prompt, models, max_tokens, total_timeout)
    table = Table(title=f"fan-out: {prompt[:60]!r}", show_lines=True)
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
                f"{usage.input_tokens}/{usage.output_tokens}",
                format_usd(cost),
                result.response.text,
            )
        else:
            table.add_row(result.model, latency, "-", "-", f"[red]{error_line(result.error)}[/red]")
    total = format_usd(math.fsum(known)) if known or not unknown else "?"
    if unknown and known:
        total += " + ?"  # a lower bound: some answers have no known price
    table.add_section()
    table.add_row("total", "", "", total, "")
    Console().print(table)
    return sum(1 for r in results if r.ok)


@click.command("fanout")
@click.argument("prompt")
@models_option
@max_tokens_option
@total_timeout_option
@backend_option
@log_level_option
def command(
    prompt: str,
    models: tuple[str, ...],
    max_tokens: int | None,
    total_timeout: float,
    backend: str,
    log_level: str | None,
) -> None:
    """Ask several models PROMPT at once and compare."""
    setup_logging(log_level)
    answered = run(backend, _fanout, prompt, models, max_tokens, total_timeout)
    if answered == 0:
        raise SystemExit(1)
