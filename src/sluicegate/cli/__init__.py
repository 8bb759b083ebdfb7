"""The ``sluicegate`` command line: one module per command, imported when it runs, so
``sluicegate --help`` stays fast."""

from __future__ import annotations

import importlib
from typing import Any

import click

from sluicegate.cli import exit_status

_COMMANDS = {
    "batch": "sluicegate.cli.batch",
    "chat": "sluicegate.cli.chat",
    "compare": "sluicegate.cli.compare",
    "fanout": "sluicegate.cli.fanout",
    "plugins": "sluicegate.cli.plugins",
    "prices": "sluicegate.cli.prices",
    "mock-server": "sluicegate.cli.mock_server",
    "run": "sluicegate.cli.run",
}


class _LazyGroup(click.Group):
    """A group whose commands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _COMMANDS.get(cmd_name)
        if module is None:
            return None
        command: Any = importlib.import_module(module).command
        return command  # type: ignore[no-any-return]


@click.group(cls=_LazyGroup, epilog=exit_status.HELP_TEXT)
@click.version_option(package_name="sluicegate")
def main() -> None:
    """Call LLM APIs at volume: concurrency, rate limits, retries, streaming and costs.

    Models are named PROVIDER/MODEL (openai/gpt-4o-mini, anthropic/claude-sonnet-4-5,
    mock/fast). The mock provider needs no key and no network.
    """
