"""``sluicegate run`` invoked in-process, as the CLI tests of bulk runs call it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from sluicegate.cli import main


def invoke(backend: str, *args: str | Path) -> Result:
    """``sluicegate run ARGS --no-progress --backend BACKEND``."""
    argv = ["run", *map(str, args), "--no-progress", "--backend", backend]
    return CliRunner().invoke(main, argv, catch_exceptions=False)
