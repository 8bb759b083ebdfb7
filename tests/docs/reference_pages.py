"""What the API reference pages (docs/reference/*.md) render: their mkdocstrings
directives (``::: identifier`` and its ``members`` option), read as mkdocstrings reads
them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
DIRECTIVE = re.compile(r"^::: (\S+)\n((?:    .*\n|\n)*)", re.M)


@dataclass(frozen=True)
class Directive:
    page: str
    identifier: str
    members: list[str] | bool | None
    """The ``members`` option: a list of names, False (none), True or None (the defaults:
    what the module's ``__all__`` lists)."""


def directives() -> list[Directive]:
    found = []
    for page in sorted(REFERENCE.glob("*.md")):
        for match in DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            block = match.group(2)
            options = (yaml.safe_load(block) or {}).get("options", {}) if block.strip() else {}
            found.append(Directive(page.name, match.group(1), options.get("members")))
    return found
