"""The plugin: ``SluicegateInstrumentor`` adds the OpenTelemetry stages to a client.

Installed with the ``otel`` extra, an instance is registered through the ``sluicegate``
entry point (:mod:`sluicegate.otel.entry`) and reports to the global tracer and meter
providers; a client opened while neither is configured gets no stage at all, so the extra
costs nothing per request until OpenTelemetry is set up. Pass an instance of your own to
report elsewhere (its stages replace the entry point's, having the same names)::

    Client(plugins=[SluicegateInstrumentor(tracer_provider=tp, meter_provider=mp)])

This module imports nothing of OpenTelemetry: that happens when a client is built with
the plugin (:mod:`sluicegate.otel.stages`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sluicegate.chain import ChainContext, Middleware, MiddlewareSpec, Phase
from sluicegate.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from sluicegate.otel.telemetry import Telemetry

REQUEST_STAGE = "otel_request"
ADMISSION_STAGE = "otel_admission"
ATTEMPT_STAGE = "otel_attempt"

_ADMISSION_PHASE = (Phase.BREAKER + Phase.RATE_LIMIT) // 2
"""Inside the breaker (an attempt it refuses is no attempt), before the rate limiter."""


class SluicegateInstrumentor:
    """OpenTelemetry spans and metrics for every request of the clients it is given to.

    ``tracer_provider``/``meter_provider``: where to report (None: the global ones, read
    through OpenTelemetry's proxies, so a provider configured later is used too, as long
    as the client was built with instrumentation on). ``capture_content``: put prompt and
    answer text on the request span (``gen_ai.input.messages``, ``gen_ai.output.messages``);
    None reads ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (off unless ``true``).
    API keys are never reported, whatever the setting.
    """

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        capture_content: bool | None = None,
        name: str | None = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._capture_content = capture_content
        self.name = name or f"sluicegate.otel-{id(self):x}"
        self._built: dict[int, Telemetry] = {}

    @property
    def uses_global_providers(self) -> bool:
        return self._tracer_provider is None and self._meter_provider is None

    @hookimpl
    def sluicegate_middleware(self) -> Sequence[MiddlewareSpec]:
        return [
            MiddlewareSpec(REQUEST_STAGE, Phase.LOGGING, self._request_stage, order=-100),
            MiddlewareSpec(ADMISSION_STAGE, _ADMISSION_PHASE, self._admission_stage),
            MiddlewareSpec(ATTEMPT_STAGE, Phase.ATTEMPT, self._attempt_stage, order=-100),
        ]

    def telemetry(self, context: ChainContext) -> Telemetry | None:
        """The client's telemetry (one per client build, shared by the three stages), or
        None when it would report to global providers nobody has configured."""
        key = id(context.observers)  # one Observers object per client
        kept = self._built.get(key)
        if (
            kept is not None
            and kept.clock is context.clock
            and kept.providers is context.providers
            and kept.circuits is context.circuits
        ):
            return kept
        from sluicegate.otel.content import capture_from_env
        from sluicegate.otel.telemetry import Telemetry, configured

        if self.uses_global_providers and not configured():
            return None
        capture = self._capture_content
        built = Telemetry(
            self._tracer_provider,
            self._meter_provider,
            providers=context.providers,
            clock=context.clock,
            capture_content=capture_from_env() if capture is None else capture,
            circuits=context.circuits,
        )
        self._built = {key: built}  # (only the client being built needs it)
        return built

    def _request_stage(self, context: ChainContext) -> Middleware | None:
        from sluicegate.otel.stages import RequestSpans

        telemetry = self.telemetry(context)
        return None if telemetry is None else RequestSpans(telemetry)

    def _admission_stage(self, context: ChainContext) -> Middleware | None:
        from sluicegate.otel.stages import Admission

        telemetry = self.telemetry(context)
        return None if telemetry is None else Admission(telemetry)

    def _attempt_stage(self, context: ChainContext) -> Middleware | None:
        from sluicegate.otel.stages import AttemptSpans

        telemetry = self.telemetry(context)
        return None if telemetry is None else AttemptSpans(telemetry)
