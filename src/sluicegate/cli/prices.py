"""``sluicegate prices``: every model price the client would use, and where each came
from (built in, a plugin, or the user's price file)."""

from __future__ import annotations

import click

from sluicegate.cli import exit_status
from sluicegate.cli.common import CommandError


def _per_mtok(value: float | None) -> str:
    return "-" if value is None else f"${value:g}"


@click.command("prices", epilog=exit_status.HELP_TEXT)
@click.option(
    "--prices",
    "price_file",
    type=click.Path(dir_okay=False),
    envvar="SLUICEGATE_PRICES",
    default=None,
    help="A TOML price file whose entries override and add to the table "
    "(default: SLUICEGATE_PRICES).",
)
@click.argument("pattern", required=False)
def command(price_file: str | None, pattern: str | None) -> None:
    """List model prices in USD per million tokens (PATTERN: only models containing it)."""
    from rich.console import Console
    from rich.table import Table

    from sluicegate.cost.price_data import PRICES_AS_OF
    from sluicegate.cost.price_file import load_price_file
    from sluicegate.cost.prices import PriceTable
    from sluicegate.errors import SluicegateError
    from sluicegate.plugins.manager import collect, make_plugin_manager

    try:
        overrides = load_price_file(price_file) if price_file else []
    except SluicegateError as exc:
        raise CommandError(f"{type(exc).__name__}: {exc.message}", exit_status.USAGE) from None
    pm, errors = make_plugin_manager()
    registry = collect(pm, errors)
    table = PriceTable.from_contributions(
        ((c.plugin, c.prices) for c in registry.contributions), *overrides
    )
    entries = [p for p in table.entries() if not pattern or pattern in p.model]
    view = Table(
        title="model prices (USD per million tokens)",
        caption=f"bundled prices as of {PRICES_AS_OF}; prices change: override them with "
        "--prices FILE or SLUICEGATE_PRICES (see docs/cost.md)",
    )
    view.add_column("model", style="bold", no_wrap=True)
    view.add_column("input", justify="right", no_wrap=True)
    view.add_column("cached input", justify="right")
    view.add_column("cache write", justify="right")
    view.add_column("output", justify="right", no_wrap=True)
    view.add_column("batch discount", justify="right")
    view.add_column("source", overflow="fold")
    for price in entries:
        view.add_row(
            price.model,
            _per_mtok(price.input_per_mtok),
            _per_mtok(price.cached_input_per_mtok),
            _per_mtok(price.cache_write_per_mtok),
            _per_mtok(price.output_per_mtok),
            f"{price.batch_discount:.0%}",
            price.source,
        )
    console = Console()
    console.print(view)
    if not entries:
        console.print(f"no model matches {pattern!r}" if pattern else "no prices are known")
    for error in registry.errors:
        console.print(f"[red]plugin failed:[/red] {error.plugin}: {error.message}")
