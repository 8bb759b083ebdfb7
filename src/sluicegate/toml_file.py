"""Reading a TOML file of the user's (a price file, ``sluicegate.toml``): every way it can
fail, unreadable, not UTF-8, not TOML, as a BadInputError naming the file (and the line,
where tomllib gives one), so both files report their first mistakes alike."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Final

from sluicegate.errors import BadInputError

__all__ = ["read_toml"]

_TOML_POSITION: Final = re.compile(r"\(at line (\d+), column (\d+)\)")


def read_toml(path: str | os.PathLike[str], what: str) -> tuple[str, str, dict[str, Any]]:
    """``(file, text, data)`` of the TOML file at ``path``; ``what`` names it in errors
    (``"price file"``, ``"config file"``)."""
    file = os.fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"{what} cannot be read: {exc.strerror or exc}", file=file) from None
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{what} is not UTF-8 text: {exc.reason}", file=file) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.search(str(exc))
        line = int(found.group(1)) if found else None
        raise BadInputError(f"not valid TOML: {exc}", file=file, line=line) from None
    return file, text, data
