"""Which config file applies, and why: what ``sluicegate config`` reports.

The command line looks, in order: ``--config FILE``; ``SLUICEGATE_CONFIG`` (empty: no
file at all); ``./sluicegate.toml``; ``$XDG_CONFIG_HOME/sluicegate/sluicegate.toml``
(``~/.config/...`` by default). A library ``Client`` reads only what it is given
(``Client(config=...)``) or ``SLUICEGATE_CONFIG``: a library that picked up files from
whatever directory its program runs in would change behaviour behind its caller's back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["CONFIG_ENV", "FILE_NAME", "Found", "find_config", "user_config_path"]

CONFIG_ENV: Final = "SLUICEGATE_CONFIG"
FILE_NAME: Final = "sluicegate.toml"


@dataclass(frozen=True, slots=True)
class Found:
    """The config file to use (None: none) and how it was chosen."""

    path: str | None
    how: str


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sluicegate" / FILE_NAME


def find_config(
    given: str | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Found:
    """The command line's config file (see the module docstring)."""
    env = os.environ if environ is None else environ
    if given:
        return Found(given, "--config")
    if CONFIG_ENV in env:
        value = env[CONFIG_ENV]
        return Found(value or None, f"{CONFIG_ENV}" + ("" if value else " (empty: none)"))
    local = (cwd or Path.cwd()) / FILE_NAME
    if local.is_file():
        return Found(str(local), "found in the working directory")
    user = user_config_path(env)
    if user.is_file():
        return Found(str(user), "found in the user's config directory")
    return Found(None, f"none ({FILE_NAME} not in the working directory or {user.parent})")
