"""The site's pages that repeat something from elsewhere repeat it exactly: the
getting-started page's commands are the README's quick start, and the examples page
includes every example."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def commands(text: str) -> list[str]:
    return [block.strip() for block in FENCE.findall(text)]


def test_getting_started_commands_are_the_readme_quick_start() -> None:
    readme = section((ROOT / "README.md").read_text(encoding="utf-8"), "Quick start")
    index = section((ROOT / "docs" / "index.md").read_text(encoding="utf-8"), "Quick start")
    assert commands(readme), "the README's quick start has no sh commands"
    assert commands(index) == commands(readme)


def test_getting_started_exit_status_table_is_the_readmes() -> None:
    """docs/ links here for the exit statuses (the README is not part of the site)."""

    def table(text: str) -> list[str]:
        part = section(text, "Command line").split("### Exit status", 1)[1]
        return [line for line in part.splitlines() if line.startswith("|")]

    readme = table((ROOT / "README.md").read_text(encoding="utf-8"))
    assert readme and table((ROOT / "docs" / "index.md").read_text(encoding="utf-8")) == readme


def test_examples_page_includes_every_example() -> None:
    page = (ROOT / "docs" / "examples.md").read_text(encoding="utf-8")
    included = set(re.findall(r'^--8<-- "(examples/[^"]+)"$', page, re.M))
    examples = {f"examples/{path.name}" for path in (ROOT / "examples").glob("*.py")}
    assert examples <= included, f"not on docs/examples.md: {sorted(examples - included)}"
