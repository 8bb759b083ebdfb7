"""``sluicegate config``: the configuration a command would use, and where each part came
from (the config file, a plugin, the environment); keys never shown, only whether set."""

from __future__ import annotations

import os
from typing import Any

import click

from sluicegate.cli import exit_status
from sluicegate.cli.common import CommandError

_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "password")


def _header_text(headers: dict[str, str]) -> str:
    """Header names and values, a value redacted when its name suggests a secret."""
    shown = []
    for name, value in sorted(headers.items()):
        secret = any(word in name.lower() for word in _SECRET_HEADER_WORDS)
        shown.append(f"{name}: {'***' if secret else value}")
    return ", ".join(shown) or "-"


@click.command("config", epilog=exit_status.HELP_TEXT)
@click.pass_context
def command(ctx: click.Context) -> None:
    """Show the config file in use, every provider (kind, base URL, where its key comes
    from, headers) and the config file's prices. Keys are never shown."""
    import anyio
    from rich.console import Console
    from rich.table import Table

    from sluicegate.client import Client
    from sluicegate.config import CONFIG_ENV, find_config, load_config
    from sluicegate.errors import SluicegateError

    found = ctx.meta.get("sluicegate.config") or find_config()
    console = Console()
    console.print(f"config file: {found.path or '-'} ({found.how})", highlight=False)
    try:
        config = load_config(found.path) if found.path else None

        async def bound() -> list[Any]:
            async with Client(config=config or os.environ.get(CONFIG_ENV) or None) as client:
                return list(client._providers.values())

        providers = anyio.run(bound)
    except SluicegateError as exc:
        raise CommandError(f"{type(exc).__name__}: {exc.message}", exit_status.USAGE) from None
    view = Table(title="providers")
    for column in ("name", "kind", "base URL", "key", "headers", "from"):
        view.add_column(column, overflow="fold")
    for provider in sorted(providers, key=lambda p: p.name):
        configured = config.providers.get(provider.name) if config is not None else None
        key_env = configured.api_key_env if configured is not None else provider.spec.api_key_env
        if not provider.spec.needs_key and provider.credential is None:
            key = "none needed"
        elif key_env:
            key = f"{key_env} ({'set' if provider.credential is not None else 'unset'})"
        else:
            key = "set" if provider.credential is not None else "unset"
        headers = dict(configured.headers) if configured is not None else {}
        source = f"config line {configured.line}" if configured is not None else "plugin"
        view.add_row(
            provider.name,
            provider.spec.name,
            provider.base_url,
            key,
            _header_text(headers),
            source,
        )
    console.print(view)
    if config is not None and config.aliases:
        console.print(
            "aliases: " + ", ".join(f"{a} = {t}" for a, t in sorted(config.aliases.items())),
            highlight=False,
        )
    if config is not None and config.limits:
        for limit in config.limits:
            fields = ", ".join(
                f"{name}={getattr(limit, name)}"
                for name in ("rpm", "tpm", "input_tpm", "output_tpm", "concurrency")
                if getattr(limit, name) is not None
            )
            console.print(f"limit {limit.scope}: {fields}", highlight=False)
    if config is not None and config.defaults:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(config.defaults.items()))
        console.print(f"defaults: {shown}", highlight=False)
    if config is not None and config.prices:
        prices = Table(title="prices from the config file (USD per million tokens)")
        for column in ("model", "input", "output"):
            prices.add_column(column)
        for price in config.prices:
            prices.add_row(price.model, f"${price.input_per_mtok:g}", f"${price.output_per_mtok:g}")
        console.print(prices)
