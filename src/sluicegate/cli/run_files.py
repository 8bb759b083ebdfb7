"""How ``sluicegate run`` (both modes) and ``sluicegate batch`` end on a file error: a
refused file exits USAGE before anything is sent; a write that failed mid-run (a full
disk) names the file and the OS's reason and exits IO_ERROR after the summary."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sluicegate.bulk.file_errors import FileWriteError, RefusedFileError
from sluicegate.cli.exit_status import IO_ERROR, USAGE

T = TypeVar("T")

__all__ = [
    "RefusedFileUsage",
    "WriteFailed",
    "count_newlines",
    "guarded",
    "guarded_sync",
    "stop_lines",
]


class RefusedFileUsage(click.ClickException):
    """A refused file, as click shows it: ``Error: <message>``, exit USAGE."""

    exit_code = USAGE

    def __init__(self, error: RefusedFileError) -> None:
        super().__init__(f"{type(error).__name__}: {error.message}")


class WriteFailed(click.ClickException):
    """A write that failed mid-run, as click shows it when no summary can be: exit
    IO_ERROR."""

    exit_code = IO_ERROR


def guarded(
    func: Callable[..., Awaitable[T]],
) -> Callable[..., Awaitable[T | FileWriteError]]:
    """``func`` with a refused file raised as :class:`RefusedFileUsage` and a failed write
    returned as its error (the caller prints the summary), instead of both becoming the
    generic one-line exit of :func:`sluicegate.cli.common.run`."""

    async def call(*args: Any) -> T | FileWriteError:
        try:
            return await func(*args)
        except RefusedFileError as exc:
            raise RefusedFileUsage(exc) from None
        except FileWriteError as exc:
            return exc

    return call


def guarded_sync(func: Callable[..., T]) -> Callable[..., T | FileWriteError]:
    """:func:`guarded` for a function that runs no event loop of its own
    (``sluicegate run --engine ray``'s driver)."""

    def call(*args: Any) -> T | FileWriteError:
        try:
            return func(*args)
        except RefusedFileError as exc:
            raise RefusedFileUsage(exc) from None
        except FileWriteError as exc:
            return exc

    return call


def count_newlines(path: Path) -> int:
    """Complete lines of ``path`` (0 if it is missing or unreadable): before and after a
    failed run, what that run wrote."""
    count = 0
    try:
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                count += block.count(b"\n")
    except OSError:
        return 0
    return count


def stop_lines(error: FileWriteError, output: Path, resume_command: str) -> list[str]:
    """What the summary says after a failed write (rich markup; the command escaped)."""
    from rich.markup import escape

    command = f":\n  {escape(resume_command)}" if resume_command else "."
    return [
        f"[red]Stopped: {error.message}[/] (the {error.role}). What was written to {output} "
        "stays; the lines not written are pending, not lost: make room (or fix the cause), "
        f"then run the same command again, which skips the ids already written{command}"
    ]
