"""``sluicegate compare PROMPT -m A -m B``: the answers of several models side by side, one
column each, headed by latency, tokens and cost. (``fanout`` asks the same way and shows
one table row per model, which suits many models or short answers; this suits reading
two or three long answers against each other.)"""

from __future__ import annotations

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


async def _compare(
    prompt: str, models: tuple[str, ...], max_tokens: int | None, total_timeout: float = 600.0
) -> int:
    from rich.columns import Columns
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    from sluicegate.cost import format_usd

    results = await ask_models(prompt, models, max_tokens, total_timeout)
    console = Console()
    width = max(30, (console.width - 2 * len(results)) // max(len(results), 1))
    panels = []
    for result in results:
        latency = f"{result.latency * 1000:,.0f} ms"
        response = result.response
        if response is not None:
            usage = response.usage
            head = (
                f"{latency} · {usage.input_tokens}/{usage.output_tokens} tok · "
                f"{format_usd(response.cost)}"
            )
            body = Text(response.text or _tool_calls(response.tool_calls))
            style = "green"
        else:
            head = latency
            body = Text(error_line(result.error), style="red")
            style = "red"
        panels.append(
            Panel(
                body, title=f"[bold]{result.model}", subtitle=head, width=width, border_style=style
            )
        )
    console.print(Columns(panels, equal=True))
    return sum(1 for r in results if r.ok)


def _tool_calls(calls: tuple[object, ...]) -> str:
    return "\n".join(
        f"tool call: {getattr(c, 'name', '')}({getattr(c, 'arguments', '')})" for c in calls
    )


@click.command("compare")
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
    """Ask several models PROMPT and show their answers side by side."""
    setup_logging(log_level)
    answered = run(backend, _compare, prompt, models, max_tokens, total_timeout)
    if answered == 0:
        raise SystemExit(1)
