"""``sluicegate compare PROMPT -m A -m B``: the answers of several models side by side, one
column each, headed by the model and its cost, then latency and tokens. (``fanout`` asks
the same way and shows one table row per model, which suits many models or short answers;
this suits reading two or three long answers against each other.)"""

from __future__ import annotations

from typing import Any

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


async def _compare(
    prompt: str,
    models: tuple[str, ...],
    max_tokens: int | None,
    total_timeout: float = 600.0,
    store: str | None = None,
) -> int:
    """Show the answers; return the exit status."""
    from rich.console import Console

    results = await ask_models(prompt, models, max_tokens, total_timeout, store)
    console = Console()
    console.print(answer_columns(results, console.width))
    return exit_status.of_answers([None if r.ok else r.error for r in results])


def answer_columns(results: list[Any], console_width: int) -> Any:
    """One panel per model, side by side: the model and the cost in the title (the model
    name shortened with an ellipsis when the panel is narrow, never the cost), latency
    and tokens as the first line of the body, where they wrap instead of being cut."""
    from rich.columns import Columns
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    from sluicegate.cost.rates import format_usd

    per_row = max(1, min(len(results), (console_width + 1) // (_MIN_WIDTH + 2)))
    width = max(_MIN_WIDTH, (console_width - 2 * per_row) // per_row)
    panels = []
    for result in results:
        latency = f"{result.latency * 1000:,.0f} ms"
        response = result.response
        if response is not None:
            cost = format_usd(response.cost)
            head = f"{latency} · {tokens_text(response.usage, short=True)} tok"
            text = scrub_answer(response.text or _tool_calls(response.tool_calls))
            answer = Text(text, overflow="fold")
            style = "green"
        else:
            cost = ""
            head = latency
            answer = Text(error_line(result.error), style="red", overflow="fold")
            style = "red"
        room = width - _TITLE_MARGIN - (len(cost) + 3 if cost else 0)
        title = Text(_fit(result.model, room), "bold")
        if cost:
            title.append(f" · {cost}")
        body = Group(Text(head, style="dim"), answer)
        panels.append(Panel(body, title=title, width=width, border_style=style))
    return Columns(panels, equal=True)


_MIN_WIDTH = 30
"""The narrowest panel: below it answers are a few words a line. Panels that do not fit
side by side at this width go on the next row, and the panels of a row share its width."""
_TITLE_MARGIN = 6
"""Columns of a panel's width its title cannot use: the corners, a rule on each side and
a space each side of the title."""


def _fit(name: str, room: int) -> str:
    """``name`` in at most ``room`` characters, its middle replaced by an ellipsis: the
    provider stays, and so does the end, where versions and dates tell models apart."""
    if len(name) <= room:
        return name
    room = max(room, 2)
    head = (room - 1) // 2
    return name[:head] + "…" + name[len(name) - (room - 1 - head) :]


def _tool_calls(calls: tuple[object, ...]) -> str:
    return "\n".join(
        f"tool call: {getattr(c, 'name', '')}({getattr(c, 'arguments', '')})" for c in calls
    )


@click.command("compare", epilog=exit_status.HELP_TEXT)
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
    """Ask several models PROMPT and show their answers side by side."""
    setup_logging(log_level)
    status = run(backend, _compare, prompt, models, max_tokens, total_timeout, store)
    if status != exit_status.OK:
        raise SystemExit(status)
