"""What ``import sluicegate`` and a first ``sluicegate.Client`` load: the guard behind the
import time (measured by bench/import_time.py, never timed here).

``import sluicegate`` loads the package and nothing else of it (public names import when
first used); ``from sluicegate import Client`` loads the client and its chain, but not the
batch APIs, the bulk runner, the price tables, the transports or any HTTP library: those
load when a client is built or first uses them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sluicegate

NEVER_AT_IMPORT = (
    "sluicegate.batch.",  # any module of the batch package but its light __init__
    "sluicegate.bulk.",
    "sluicegate.cost.tables",
    "sluicegate.transports.native",
    "sluicegate.transports.aiohttp",
    "sluicegate.transports.httpx_client",
    "sluicegate.ray_data",
    "sluicegate.testing",
    "sluicegate.cli.",
    "aiohttp",
    "httpx2",
    "httpx",
    "httptools",
    "structlog",
    "coredis",
    "ray",
    "jsonschema",
    "json_repair",
    "pydantic",
)
"""Modules (prefixes) that a ``from sluicegate import Client`` must not load."""


def loaded_by(statement: str) -> list[str]:
    """The modules a fresh interpreter has in ``sys.modules`` after ``statement``, beyond
    what a bare one has."""
    code = (
        "import sys, json; before = set(sys.modules); "
        f"{statement}; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found: list[str] = json.loads(out.stdout)
    return found


def test_import_sluicegate_loads_only_the_package() -> None:
    ours = [m for m in loaded_by("import sluicegate") if m.startswith("sluicegate")]
    assert ours == ["sluicegate", "sluicegate._moved"]
    others = loaded_by("import sluicegate")
    assert not [m for m in others if m.split(".")[0] in ("anyio", "pluggy", "orjson", "sniffio")]


def test_the_client_loads_no_batch_bulk_tables_transports_or_http_library() -> None:
    loaded = loaded_by("from sluicegate import Client")
    assert "sluicegate.client" in loaded
    heavy = [m for m in loaded if m.startswith(NEVER_AT_IMPORT) or m in NEVER_AT_IMPORT]
    assert heavy == []


def test_building_a_client_loads_its_tables_but_not_the_batch_api_or_the_bulk_runner() -> None:
    loaded = loaded_by("import sluicegate; sluicegate.Client(load_entry_points=False).prices")
    assert "sluicegate.cost.tables.openai" in loaded  # the price lists: now they are needed
    assert "sluicegate.batch.openai" not in loaded
    assert not [m for m in loaded if m.startswith("sluicegate.bulk.")]
    assert "sluicegate.batch.openai_spec" in loaded  # the registration, without the API


def test_the_lazy_names_are_the_public_names_and_all_resolve() -> None:
    exports = sluicegate._EXPORTS
    assert set(exports) == set(sluicegate.__all__) - {"__version__"}
    source = Path(sluicegate.__file__).read_text()
    guarded = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    typed = {
        alias.asname or alias.name: node.module
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == exports  # what type checkers see is what is imported
    for name in sluicegate.__all__:
        assert getattr(sluicegate, name) is not None
    assert "Client" in dir(sluicegate)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sluicegate.Nope  # noqa: B018
