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
    "config": "sluicegate.cli.config",
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
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A sluicegate.toml of providers and prices [default: SLUICEGATE_CONFIG, else "
    "./sluicegate.toml, else ~/.config/sluicegate/sluicegate.toml; see docs/config.md].",
)
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """Call LLM APIs at volume: concurrency, rate limits, retries, streaming and costs.

    Models are named PROVIDER/MODEL (openai/gpt-4o-mini, anthropic/claude-sonnet-4-5,
    mock/fast). The mock provider needs no key and no network.
    """
    _use_config(ctx, config_file)


def _use_config(ctx: click.Context, config_file: str | None) -> None:
    """Find the config file and name it in ``SLUICEGATE_CONFIG`` while the command runs
    (every client the command builds reads it there), restoring the variable after."""
    import os

    from sluicegate.config.discover import CONFIG_ENV, find_config

    found = find_config(config_file)
    ctx.meta["sluicegate.config"] = found
    before = os.environ.get(CONFIG_ENV)
    os.environ[CONFIG_ENV] = found.path or ""

    def restore() -> None:
        if before is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = before

    ctx.call_on_close(restore)
