"""What one client's OpenTelemetry stages share, made once when the client is built: the
tracer, the metric instruments, and per provider what its spans say about it.

Per request nothing here is looked up by name: the instruments are made once, and a
provider's ``gen_ai.provider.name`` and ``server.address``/``server.port`` are worked out
the first time it is called (a dict lookup and an identity check after that).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.util.types import AttributeValue

from sluicegate.chain import CircuitBoard
from sluicegate.clock import Clock
from sluicegate.otel import semconv as sc
from sluicegate.types import Request, Response

if TYPE_CHECKING:
    from sluicegate.providers.base import BoundProvider

INSTRUMENTATION_NAME = "sluicegate"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"

Attributes = dict[str, AttributeValue]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sluicegate")
    except PackageNotFoundError:  # (run from a source tree)
        return "0"


class Telemetry:
    """The tracer, instruments and provider facts of one client."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        *,
        providers: Mapping[str, BoundProvider],
        clock: Clock,
        capture_content: bool,
        circuits: CircuitBoard | None = None,
    ) -> None:
        version = _version()
        self.tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, version, tracer_provider, schema_url=SCHEMA_URL
        )
        meter = metrics.get_meter(
            INSTRUMENTATION_NAME, version, meter_provider, schema_url=SCHEMA_URL
        )
        self.duration = meter.create_histogram(
            sc.OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.tokens = meter.create_histogram(
            sc.TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=[float(b) for b in sc.TOKEN_BUCKETS],
        )
        self.cost = meter.create_counter(
            sc.CLIENT_COST, unit="USD", description="What the answered requests cost"
        )
        self.clock = clock
        self.capture_content = capture_content
        self.providers = providers
        self.circuits = circuits if circuits is not None else CircuitBoard()
        """The client's circuit states (the state each attempt was admitted in)."""
        self._facts: dict[str, tuple[Any, Attributes]] = {}

    def provider_facts(self, provider: str) -> Attributes:
        """``gen_ai.provider.name`` and the server's address and port for ``provider``
        (sluicegate's name for it), worked out once per bound provider."""
        bound = self.providers.get(provider)
        kept = self._facts.get(provider)
        if kept is not None and kept[0] is bound:
            return kept[1]
        facts: Attributes = {sc.PROVIDER_NAME: provider}
        if bound is not None:
            facts[sc.PROVIDER_NAME] = sc.provider_name(bound.spec.name)
            try:
                url = urlsplit(bound.base_url)
                if url.hostname:
                    facts[sc.SERVER_ADDRESS] = url.hostname
                    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
                    if port is not None:
                        facts[sc.SERVER_PORT] = port
            except ValueError:  # (a base URL that is not a URL: leave the server out)
                pass
        if facts[sc.PROVIDER_NAME] != provider:
            facts[sc.SLUICEGATE_PROVIDER] = provider
        self._facts[provider] = (bound, facts)
        return facts

    def request_attributes(self, request: Request) -> Attributes:
        """What a span knows of ``request`` before it is sent (no content, no key)."""
        attributes: Attributes = {
            sc.OPERATION_NAME: sc.CHAT,
            sc.REQUEST_MODEL: request.model_name,
            **self.provider_facts(request.provider),
        }
        params = request.params
        if params.max_tokens is not None:
            attributes[sc.REQUEST_MAX_TOKENS] = params.max_tokens
        if params.temperature is not None:
            attributes[sc.REQUEST_TEMPERATURE] = params.temperature
        if params.top_p is not None:
            attributes[sc.REQUEST_TOP_P] = params.top_p
        if request.stream:
            attributes[sc.STREAM] = True
        return attributes


def configured() -> bool:
    """Whether a global tracer or meter provider has been set (else OpenTelemetry's
    defaults, proxies to no-op ones, are all there is)."""
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    tracing = not isinstance(tracer_provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    metering = not isinstance(meter_provider, metrics.NoOpMeterProvider) and (
        type(meter_provider).__name__ != "_ProxyMeterProvider"
    )
    return tracing or metering


def span_name(request: Request) -> str:
    """``{gen_ai.operation.name} {gen_ai.request.model}``, e.g. ``chat gpt-4.1``."""
    return f"{sc.CHAT} {request.model_name}"


def response_model(response: Response) -> str:
    """The answering model as its provider names it (a Response may carry it as
    ``provider/model``)."""
    model = response.model
    prefix = f"{response.provider}/"
    return model[len(prefix) :] if model.startswith(prefix) else model


def response_attributes(response: Response) -> Attributes:
    """What a span learns from an answer: model, usage, finish reason (no content)."""
    usage = response.usage
    attributes: Attributes = {
        sc.RESPONSE_MODEL: response_model(response),
        sc.USAGE_INPUT_TOKENS: usage.input_tokens,
        sc.USAGE_OUTPUT_TOKENS: usage.output_tokens,
    }
    if response.finish_reason:
        attributes[sc.RESPONSE_FINISH_REASONS] = (response.finish_reason,)
    return attributes
