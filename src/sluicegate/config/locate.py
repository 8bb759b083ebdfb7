"""Where a key of a TOML file is written: its line, for error messages.

tomllib gives values without positions, and a config error must say where to look
(``sluicegate.toml:12: providers.relay.base_url: ...``). This reads the text once and
notes, for every table header (``[providers.relay]``) and every ``key = value`` line, the
dotted path it defines. It is a locator, not a parser: the file was parsed by tomllib
first, and a path it cannot place (a key inside a multi-line inline table, say) falls
back to the nearest enclosing one it can, so a message never lacks a line for long.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["KeyLines"]

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY = rf"(?:{_BARE}|{_QUOTED})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY)


def _parts(dotted: str) -> tuple[str, ...]:
    names = []
    for match in _PART.finditer(dotted):
        raw = match.group(0)
        names.append(raw[1:-1] if raw[0] in "\"'" else raw)
    return tuple(names)


class KeyLines:
    """Line numbers (from 1) of the dotted key paths a TOML text defines."""

    __slots__ = ("_lines",)

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is not None:  # inside a multi-line string: no keys here
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            header = _HEADER.match(line)
            if header:
                table = _parts(header.group(1))
                self._lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if assign:
                path = table + _parts(assign.group(1))
                for end in range(len(table) + 1, len(path) + 1):
                    self._lines.setdefault(path[:end], number)
                rest = line[assign.end() :]
                for quotes in ('"""', "'''"):
                    if rest.count(quotes) % 2 == 1:
                        in_string = quotes

    def line(self, path: Sequence[str]) -> int | None:
        """The line of ``path``, or of its nearest enclosing path the text names."""
        key = tuple(path)
        while key:
            found = self._lines.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return None
