"""Reading the rich tables the commands print, for the CLI tests."""

from __future__ import annotations


def rows(output: str) -> dict[str, list[str]]:
    """Table rows by model: the cells of each line that starts with a model name."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and "/" in cells[0]:
            found[cells[0]] = cells
    return found
