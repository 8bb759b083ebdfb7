"""The ``sluicegate`` entry point of the ``otel`` extra: ``plugin`` is the instrumentation
when OpenTelemetry's API is importable, else None, which the plugin manager skips (so a
client without the extra loads nothing of it and reports no plugin error).

Finding the API is a look-up (:func:`importlib.util.find_spec`), not an import: nothing of
OpenTelemetry loads until a client is built with the plugin.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any


def _available() -> bool:
    try:
        return find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):
        return False


def _plugin() -> Any:
    if not _available():
        return None
    from sluicegate.otel.instrumentor import SluicegateInstrumentor

    return SluicegateInstrumentor(name="sluicegate.otel")


plugin: Any = _plugin()
