"""``sluicegate prices``: every bundled price list (provider, date, sources), then every
model price the client would use and where each came from (a bundled list, a plugin, or
the user's price file)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from sluicegate.cli import exit_status
from sluicegate.cli.common import CommandError

if TYPE_CHECKING:
    from rich.console import Console

    from sluicegate.cost.prices import ModelPrice, PriceList, PriceTable


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
@click.option(
    "--tables",
    "tables_only",
    is_flag=True,
    help="Only list the bundled price lists: provider, date checked, sources.",
)
@click.argument("pattern", required=False)
def command(price_file: str | None, tables_only: bool, pattern: str | None) -> None:
    """List the bundled price lists, then model prices in USD per million tokens
    (PATTERN: only models, and lists, whose name contains it)."""
    from rich.console import Console

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
    contributions = [(c.plugin, c.prices) for c in registry.contributions]
    bundled = PriceTable.from_contributions(contributions)
    table = PriceTable.from_contributions(contributions, *overrides)
    console = Console()
    lists = [
        (plugin, price_list)
        for plugin, price_list in registry.price_lists
        if not pattern
        or pattern in price_list.provider
        or any(pattern in p.model for p in price_list.prices)
    ]
    _print_lists(console, lists)
    if not tables_only:
        _print_prices(console, table, bundled, {p.model for p in overrides}, pattern)
    for error in registry.errors:
        console.print(f"[red]plugin failed:[/red] {error.plugin}: {error.message}")


def _print_lists(console: Console, lists: list[tuple[str, PriceList]]) -> None:
    from rich.table import Table

    view = Table(
        title="bundled price lists",
        caption="each list's prices as checked on its date against its sources "
        "(which prices each source confirmed: docs/cost.md)",
    )
    view.add_column("provider", style="bold", no_wrap=True)
    view.add_column("as of", no_wrap=True)
    view.add_column("models", justify="right")
    view.add_column("from", no_wrap=True)
    view.add_column("sources", overflow="fold")
    view.add_column("note", overflow="fold")
    for plugin, price_list in lists:
        view.add_row(
            price_list.provider,
            price_list.as_of,
            str(len(price_list.prices)),
            "builtin" if plugin == "sluicegate.builtin" else f"plugin {plugin}",
            "\n".join(price_list.sources) or "-",
            price_list.note,
        )
    console.print(view)
    if not lists:
        console.print("no price list matches")


def _print_prices(
    console: Console,
    table: PriceTable,
    bundled: PriceTable,
    from_file: set[str],
    pattern: str | None,
) -> None:
    from rich.table import Table

    entries = [p for p in table.entries() if not pattern or pattern in p.model]
    view = Table(
        title="model prices (USD per million tokens)",
        caption="prices change: override them with --prices FILE or SLUICEGATE_PRICES "
        "(your file's entries read 'file PATH'); a model not listed is priced as the "
        "well-known model of the same name when exactly one matches (docs/cost.md)",
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
            _source(price, bundled, from_file),
        )
    console.print(view)
    if not entries:
        console.print(f"no model matches {pattern!r}" if pattern else "no prices are known")
    if pattern and "/" in pattern and all(p.model != pattern for p in entries):
        # a full name that is not listed: say how a request for it would be priced
        found = table.lookup(pattern)
        if found is None:
            console.print(f"{pattern}: no price (unknown, never 0)")
        else:
            source = found.source.removesuffix(f", priced as {found.model}")
            console.print(f"{pattern}: priced as {found.model} ({source})")


def _source(price: ModelPrice, bundled: PriceTable, from_file: set[str]) -> str:
    """The price's source; for an entry of the user's file that replaced a bundled price,
    which one it replaced."""
    if price.model not in from_file:
        return price.source
    replaced = bundled.lookup(price.model)
    if replaced is None or replaced.model != price.model:
        return price.source
    return f"{price.source} (replaces {replaced.source})"
