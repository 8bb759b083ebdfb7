"""Helpers for the OpenTelemetry tests: an SDK tracer and meter provider per test (never
the global ones, so no test leaks into another), and a client on scripted answers.

- :class:`Recorder` holds the in-memory span exporter and metric reader, and reads back
  the request span, the attempt spans and the metric points.
- :func:`make_client` builds a client instrumented to a recorder, on a scripted transport
  and (optionally) a fake clock, with a fake key whose text tests search the output for.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sluicegate import Client, ProviderSettings, RetryPolicy
from sluicegate.clock import Clock
from sluicegate.otel import SluicegateInstrumentor
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse

KEY = "sk-test-OTELSECRETKEY0123456789abcdef"
MODEL = "openai/gpt-4.1"
PROVIDERS = {"openai": ProviderSettings(api_key=KEY, base_url="http://127.0.0.1:9/v1")}


@dataclass
class Recorder:
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def instrumentor(self, **options: Any) -> SluicegateInstrumentor:
        return SluicegateInstrumentor(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    @property
    def request_span(self) -> ReadableSpan:
        [span] = [s for s in self.spans if s.parent is None]
        return span

    @property
    def attempt_spans(self) -> list[ReadableSpan]:
        """The attempt spans, children of the request span, in attempt order."""
        request = self.request_span
        children = [s for s in self.spans if s.parent is not None]
        assert all(s.parent.span_id == request.context.span_id for s in children)  # type: ignore[union-attr]
        return sorted(children, key=lambda s: s.attributes["sluicegate.attempt"])  # type: ignore[index]

    def points(self) -> dict[str, list[Any]]:
        """Every metric's data points, by metric name (with its unit under ``unit:name``)."""
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
                    found[f"unit:{metric.name}"] = [metric.unit]
        return found

    def exported_strings(self) -> Iterator[str]:
        """Every value exported anywhere: span names, attributes, events, links, status
        descriptions, resource, and metric attributes."""
        for span in self.spans:
            yield span.name
            yield str(span.status.description)
            yield from _flat(span.attributes)
            yield from _flat(span.resource.attributes)
            for event in span.events:
                yield event.name
                yield from _flat(event.attributes)
        for name, points in self.points().items():
            yield name
            for point in points:
                yield from _flat(getattr(point, "attributes", None))
                yield str(point)


def _flat(attributes: Any) -> Iterator[str]:
    for key, value in dict(attributes or {}).items():
        yield str(key)
        yield str(value)


def ok(text: str = "hi", prompt_tokens: int = 5, completion_tokens: int = 2) -> Answer:
    return Answer.json(200, openai_completion(text, prompt_tokens, completion_tokens))


def stream_ok(*texts: str) -> Answer:
    return Answer(200, {"content-type": "text/event-stream"}, openai_sse(list(texts or ["hi"])))


def error(status: int, headers: dict[str, str] | None = None) -> Answer:
    body = {"error": {"message": "scripted", "type": "server_error", "code": None}}
    return Answer.json(status, body, headers)


def make_client(
    transport: ScriptedTransport,
    recorder: Recorder,
    *,
    clock: Clock | None = None,
    attempts: int = 3,
    instant: bool = False,
    capture_content: bool | None = None,
    **kwargs: Any,
) -> Client:
    return Client(
        providers=PROVIDERS,
        transport=transport,
        load_entry_points=False,
        plugins=[recorder.instrumentor(capture_content=capture_content)],
        stage_settings={"retry": RetryPolicy(attempts=attempts, instant=instant)},
        clock=clock,
        rng=random.Random(7),
        **kwargs,
    )
