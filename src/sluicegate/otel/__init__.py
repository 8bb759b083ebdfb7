"""OpenTelemetry for sluicegate (the ``otel`` extra): a span per logical request, a child
span per attempt and the GenAI client metrics, named by the OpenTelemetry GenAI semantic
conventions (see docs/opentelemetry.md).

Installed, it is active through the ``sluicegate`` entry point whenever a tracer or meter
provider is configured; give a client a :class:`SluicegateInstrumentor` of your own to
report to providers you pass in.
"""

from __future__ import annotations

from sluicegate.otel.instrumentor import SluicegateInstrumentor

__all__ = ["SluicegateInstrumentor"]
