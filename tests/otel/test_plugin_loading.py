"""The plugin is found through its entry point when OpenTelemetry is importable, skipped
without a word when it is not, costs ``import sluicegate`` nothing, and adds no stage to a
client while no tracer or meter provider is configured."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from sluicegate import Client
from sluicegate.otel import SluicegateInstrumentor
from sluicegate.otel.instrumentor import ADMISSION_STAGE, ATTEMPT_STAGE, REQUEST_STAGE

ROOT = Path(__file__).resolve().parents[2]
BLOCKER = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return out.stdout.strip()


def test_the_entry_point_names_the_plugin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["sluicegate"]["otel"] == "sluicegate.otel.entry:plugin"
    assert any(d.startswith("opentelemetry-api") for d in project["optional-dependencies"]["otel"])


def test_import_sluicegate_does_not_import_opentelemetry() -> None:
    loaded = run(
        "import sys, sluicegate; from sluicegate import Client; "
        "ours = ('opentelemetry', 'sluicegate.otel'); "
        "print(sorted(m for m in sys.modules if m.startswith(ours)))"
    )
    assert loaded == "[]"


def test_without_opentelemetry_the_entry_point_is_none_and_loads_nothing() -> None:
    code = (
        BLOCKER
        + """
import importlib.metadata as md
from sluicegate.plugins import manager
from sluicegate.otel import entry
assert entry.plugin is None
ep = md.EntryPoint(name="otel", value="sluicegate.otel.entry:plugin", group="sluicegate")
manager.entry_points = lambda group: [ep] if group == "sluicegate" else []
pm, errors = manager.make_plugin_manager()
names = [name for name, _ in pm.list_name_plugin()]
print(errors, "otel" in names, [m for m in sys.modules if m.startswith("opentelemetry")])
"""
    )
    assert run(code) == "[] False []"


def test_with_opentelemetry_the_entry_point_registers_the_plugin() -> None:
    code = """
import sys
import importlib.metadata as md
from sluicegate.plugins import manager
ep = md.EntryPoint(name="otel", value="sluicegate.otel.entry:plugin", group="sluicegate")
manager.entry_points = lambda group: [ep] if group == "sluicegate" else []
pm, errors = manager.make_plugin_manager()
print(errors, type(pm.get_plugin("otel")).__name__,
      "opentelemetry.trace" in sys.modules)
"""
    # registered, and still nothing of OpenTelemetry imported until a client is built
    assert run(code) == "[] SluicegateInstrumentor False"


def test_with_global_providers_configured_the_entry_point_plugin_reports_there() -> None:
    code = """
import anyio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sluicegate import Client
from sluicegate.otel.entry import plugin

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def main():
    async with Client(plugins=[plugin], load_entry_points=False) as sg:
        await sg.chat("mock/fast", "hi")
        print([s for s in sg.stages if s.startswith("otel")])
    print(sorted(s.name for s in exporter.get_finished_spans()))

anyio.run(main)
"""
    assert run(code).splitlines() == [
        f"{[REQUEST_STAGE, ADMISSION_STAGE, ATTEMPT_STAGE]}",
        "['chat fast', 'chat fast']",
    ]


@pytest.mark.anyio
async def test_with_no_provider_configured_the_global_plugin_adds_no_stage() -> None:
    from opentelemetry import trace

    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.skip("a global tracer provider was set in this process")
    async with Client(plugins=[SluicegateInstrumentor()], load_entry_points=False) as sg:
        assert not [s for s in sg.stages if s.startswith("otel")]
        assert (await sg.chat("mock/fast", "hi")).text
