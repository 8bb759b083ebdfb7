"""``sluicegate plugins``: which plugins are loaded and what each contributed."""

from __future__ import annotations

import click

from sluicegate.cli import exit_status


@click.command("plugins", epilog=exit_status.HELP_TEXT)
def command() -> None:
    """List loaded plugins with their providers, batch APIs and middleware."""
    from rich.console import Console
    from rich.table import Table

    from sluicegate.plugins.manager import collect, make_plugin_manager

    pm, errors = make_plugin_manager()
    registry = collect(pm, errors)
    table = Table(title="sluicegate plugins")
    table.add_column("plugin", style="bold")
    table.add_column("providers")
    table.add_column("batch APIs")
    table.add_column("middleware (phase)")
    table.add_column("prices", justify="right")
    for item in registry.contributions:
        table.add_row(
            item.plugin,
            ", ".join(p.name for p in item.providers) or "-",
            ", ".join(b.kind for b in item.batch_apis) or "-",
            ", ".join(f"{m.name} ({m.phase})" for m in item.middleware) or "-",
            str(len(item.prices)),
        )
    console = Console()
    console.print(table)
    for error in registry.errors:
        console.print(f"[red]failed:[/red] {error.plugin}: {error.message}")
