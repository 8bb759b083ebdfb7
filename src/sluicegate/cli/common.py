"""What the commands share: running a coroutine on the chosen backend, building a client,
and showing a typed error as one clear line instead of a traceback, with the exit status
of its cause (:mod:`sluicegate.cli.exit_status`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import click

from sluicegate.cli import exit_status

T = TypeVar("T")


class CommandError(click.ClickException):
    """A command stopped by an error: shown as one line (``Error: ...`` on stderr), ending
    the process with the status of its cause, not click's 1 for every error."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    @property  # what click exits with
    def exit_code(self) -> int:  # type: ignore[override]
        return self.status


backend_option = click.option(
    "--backend",
    type=click.Choice(["asyncio", "trio"]),
    default="asyncio",
    show_default=True,
    help="Event loop to run on.",
)
log_level_option = click.option(
    "--log-level",
    default=None,
    help="Log level for sluicegate's events (default: error, or SLUICEGATE_LOG_LEVEL); the "
    "commands print failures themselves.",
)


models_option = click.option(
    "-m",
    "--model",
    "models",
    multiple=True,
    required=True,
    help="A model to ask (repeat for several): provider/model.",
)
max_tokens_option = click.option("--max-tokens", type=int, default=None)
total_timeout_option = click.option(
    "--total-timeout",
    default=600.0,  # sluicegate.middleware.deadline.DEFAULT_TOTAL_TIMEOUT (not imported
    # here, so that --help stays fast; a test checks they agree)
    show_default=True,
    type=click.FloatRange(min=0, max=1e9),
    metavar="SECONDS",
    help="Time limit for each request as a whole, retries and waits included, however "
    "slowly a server answers; 0 turns it off. Time a line waits for --rpm/--tpm before "
    "its first try does not count.",
)


def total_timeout_setting(seconds: float) -> float | None:
    """``Client(total_timeout=...)`` for ``--total-timeout``: 0 is "no limit"."""
    return seconds or None


store_option = click.option(
    "--store",
    default=None,
    metavar="URL",
    help="Share rate limits, circuits, budgets and idempotency with every process given "
    "the same store: a Redis URL (redis://host:6379/0); default: SLUICEGATE_STORE, else "
    "kept in this process. See docs/scale-out.md.",
)


async def ask_models(
    prompt: str,
    models: tuple[str, ...],
    max_tokens: int | None,
    total_timeout: float = 600.0,
    store: str | None = None,
) -> list[Any]:
    """The one question of ``fanout`` and ``compare``: every model's FanOutResult."""
    from sluicegate import Client

    params = {"max_tokens": max_tokens} if max_tokens is not None else {}
    async with Client(total_timeout=total_timeout_setting(total_timeout), store=store) as client:
        return await client.fan_out(prompt, models=list(models), **params)


def error_line(error: BaseException | None) -> str:
    """A failed call as one line: its type and its (key-free) message."""
    from sluicegate.errors import SluicegateError

    text = error.message if isinstance(error, SluicegateError) else repr(error)
    return f"{type(error).__name__}: {text}"


def run(backend: str, func: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``func(*args)`` on ``backend``; a typed error becomes a one-line message and
    the exit status of its cause (2 for configuration, 3 for a budget, 1 for a failed
    request), Ctrl-C exits 130 instead of click's "Aborted!" and 1."""
    import anyio

    from sluicegate.errors import SluicegateError

    if backend == "trio":
        import importlib.util

        if importlib.util.find_spec("trio") is None:
            raise click.UsageError("--backend trio needs trio: pip install 'sluicegate[trio]'")
    try:
        return anyio.run(partial(func, *args), backend=backend)
    except SluicegateError as exc:
        message = f"{type(exc).__name__}: {exc.message}"
        raise CommandError(message, exit_status.of_error(exc)) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted", exit_status.INTERRUPTED) from None


def run_sync(func: Callable[..., T], *args: Any) -> T:
    """:func:`run` for a function that runs no event loop here (it waits on a Ray
    cluster): the same one-line messages and exit statuses."""
    from sluicegate.errors import SluicegateError

    try:
        return func(*args)
    except SluicegateError as exc:
        message = f"{type(exc).__name__}: {exc.message}"
        raise CommandError(message, exit_status.of_error(exc)) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted", exit_status.INTERRUPTED) from None


def setup_logging(level: str | None) -> None:
    """Log to stderr; by default only errors, because the commands report each failed
    request in their own output already."""
    import os

    from sluicegate.logs import LEVEL_ENV, configure_logging

    configure_logging(level or os.environ.get(LEVEL_ENV) or "error")
