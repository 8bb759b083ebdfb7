"""``sluicegate.plugins`` is the plugin author's one module: it exports what its lazy table
lists (and ``hookimpl``), each name resolves, ``import sluicegate`` does not pay for the
batch helpers, and the two places that teach plugin authors (docs/plugins.md's examples
and the Anthropic plugin's source) import nothing from sluicegate but its public modules,
and only names those modules export."""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import sluicegate
import sluicegate.plugins
import sluicegate.testing
from fresh_import import loaded_before_and_after

ROOT = Path(__file__).resolve().parents[2]
PLUGINS_DOC = ROOT / "docs" / "plugins.md"
ANTHROPIC_SRC = ROOT / "plugins" / "sluicegate-anthropic" / "src"
GEMINI_SRC = ROOT / "plugins" / "sluicegate-gemini" / "src"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)

PUBLIC: dict[str, frozenset[str]] = {
    "sluicegate": frozenset(sluicegate.__all__),
    "sluicegate.plugins": frozenset(sluicegate.plugins.__all__),
    "sluicegate.testing": frozenset(sluicegate.testing.__all__),
}
"""The sluicegate modules outside code may import, and the names each exports."""


def sluicegate_imports(tree: ast.AST) -> Iterator[tuple[int, str, str | None]]:
    """``(line, module, name)`` for each sluicegate import anywhere in ``tree`` (inside
    functions and ``if TYPE_CHECKING:`` too); ``name`` is None for ``import module``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sluicegate":
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "sluicegate":
                continue
            for alias in node.names:
                yield node.lineno, node.module, alias.name


def import_problems(
    source: str, where: str, allowed: frozenset[str] = frozenset(PUBLIC)
) -> list[str]:
    """Each import of ``source`` from a sluicegate module not in ``allowed``, or of a name
    that module does not export, said with ``where`` and its line."""
    problems = []
    for line, module, name in sluicegate_imports(ast.parse(source)):
        if module not in allowed:
            problems.append(f"{where}:{line}: imports {module}")
        elif name is not None and name not in PUBLIC[module]:
            problems.append(f"{where}:{line}: {name} is not in {module}.__all__")
    return problems


def doc_blocks() -> list[str]:
    blocks = PYTHON_BLOCK.findall(PLUGINS_DOC.read_text(encoding="utf-8"))
    assert blocks, "docs/plugins.md has no ```python blocks: the pattern no longer matches"
    return blocks


def test_the_checker_sees_deep_and_unexported_imports() -> None:
    source = (
        "import json\n"
        "import sluicegate.chain\n"
        "from sluicegate.providers.base import Provider\n"
        "from sluicegate import NotAName\n"
        "from sluicegate_acme import codec\n"
        "def f():\n"
        "    from sluicegate.plugins import Transport\n"
    )
    assert import_problems(source, "x.py") == [
        "x.py:2: imports sluicegate.chain",
        "x.py:3: imports sluicegate.providers.base",
        "x.py:4: NotAName is not in sluicegate.__all__",
    ]


@pytest.mark.parametrize("number", range(len(doc_blocks())))
def test_plugin_docs_import_only_public_names(number: int) -> None:
    block = doc_blocks()[number]
    assert import_problems(block, f"docs/plugins.md python block {number + 1}") == []


@pytest.mark.parametrize("source", [ANTHROPIC_SRC, GEMINI_SRC], ids=["anthropic", "gemini"])
def test_a_plugin_imports_only_sluicegate_and_sluicegate_plugins(source: Path) -> None:
    files = sorted(source.rglob("*.py"))
    assert files
    allowed = frozenset({"sluicegate", "sluicegate.plugins"})
    problems = [
        problem
        for path in files
        for problem in import_problems(
            path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), allowed
        )
    ]
    assert problems == []


def test_all_is_the_lazy_table_and_hookimpl() -> None:
    where = sluicegate.plugins._WHERE
    assert sorted(sluicegate.plugins.__all__) == sorted([*where, "hookimpl"])
    assert len(set(sluicegate.plugins.__all__)) == len(sluicegate.plugins.__all__)
    assert dir(sluicegate.plugins) == sorted(sluicegate.plugins.__all__)


def test_every_name_resolves_to_the_object_of_its_module() -> None:
    for name, module in sluicegate.plugins._WHERE.items():
        expected = getattr(importlib.import_module(module), name)
        assert getattr(sluicegate.plugins, name) is expected, name
    assert sluicegate.plugins.hookimpl is sluicegate.hookimpl
    with pytest.raises(AttributeError, match="no attribute 'NotAName'"):
        _ = sluicegate.plugins.NotAName


def test_importing_sluicegate_does_not_import_the_batch_helpers() -> None:
    loaded = loaded_before_and_after(
        "import sluicegate, sluicegate.plugins",
        "sluicegate.plugins.BatchHttp",
        "sluicegate.batch.http",
    )
    assert loaded == (False, True)
