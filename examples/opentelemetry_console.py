"""Spans and metrics of a plain and a streamed call against the mock provider, printed to
the console by the OpenTelemetry SDK (needs ``pip install 'sluicegate[otel]'
opentelemetry-sdk``).

python examples/opentelemetry_console.py [asyncio|trio]

The tracer and meter providers are handed to the instrumentation here rather than set
globally; an application that sets them globally (``trace.set_tracer_provider``) before
opening its clients needs no ``plugins=`` at all: the ``otel`` entry point reports there.
"""

from __future__ import annotations

import sys

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import sluicegate
from sluicegate.otel import SluicegateInstrumentor


async def main() -> list[ReadableSpan]:
    kept = InMemorySpanExporter()  # what main() returns
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    tracer_provider.add_span_processor(SimpleSpanProcessor(kept))
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    instrumentor = SluicegateInstrumentor(
        tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    async with sluicegate.Client(plugins=[instrumentor]) as client:
        await client.chat("mock/fast", "Name a river.", max_tokens=30)
        async with client.stream("mock/fast", "Describe a river.") as stream:
            await stream.final_response()
    data = metrics.get_metrics_data()
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "sum", getattr(point, "value", None))
                    print(f"{metric.name} ({metric.unit}) {dict(point.attributes)}: {value}")
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return list(kept.get_finished_spans())


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
