"""The ``streamGenerateContent?alt=sse`` decoder.

Each SSE event's data is a whole ``GenerateContentResponse`` holding the next piece of
the answer: text parts become text deltas, each ``functionCall`` part (Gemini sends a
call whole, never in pieces) a tool-call delta with its name and all its arguments, and
``usageMetadata`` (running totals, on every chunk or the last) a usage event. There is
no ``[DONE]``: the stream's end is the chunk with a ``finishReason``, after which the
decoder is ``finished``. A stream cut before it is a cut stream. An error object in the
stream, a blocked prompt, or a content filter's stop with nothing sent yet are raised as
their typed errors.
"""

from __future__ import annotations

from sluicegate import (
    FinishEvent,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from sluicegate.plugins import MalformedField, SSEEvent, describe, malformed_answer, parse_json
from sluicegate_gemini.wire import (
    BLOCKING_REASONS,
    blocked,
    blocked_prompt,
    error_details,
    finish_reason,
    usage_from,
)


class GeminiStreamDecoder:
    """Events of one streamed answer (see the module docstring)."""

    __slots__ = ("_calls", "_model", "_provider", "_sent", "finished")

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._calls = 0
        self._sent = False  # text or a call reached the caller
        self.finished = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        from sluicegate_gemini.codec import Candidate

        if not event.data:
            return []
        try:
            data = parse_json(event.data, "data")
            if type(data) is not dict:
                raise MalformedField("data", f"expected an object, got {describe(data)}")
            if "error" in data:
                raise self._error(data)
            refused = blocked_prompt(data, self._provider, self._model)
            if refused is not None:
                raise refused
            candidate = Candidate(data, first_call=self._calls)
        except MalformedField as exc:
            raise malformed_answer(
                provider=self._provider,
                model=self._model,
                what="stream chunk",
                problem=str(exc),
                body=event.data.encode(),
                status=200,
            ) from None
        events: list[StreamEvent] = [TextDelta(piece) for piece in candidate.texts]
        for call in candidate.calls:
            events.append(
                ToolCallDelta(
                    index=self._calls, id=call.id, name=call.name, arguments=call.arguments
                )
            )
            self._calls += 1
        self._sent = self._sent or bool(events)
        if "usageMetadata" in data:
            try:
                events.append(UsageEvent(usage_from(data["usageMetadata"])))
            except MalformedField as exc:
                raise malformed_answer(
                    provider=self._provider,
                    model=self._model,
                    what="stream chunk",
                    problem=str(exc),
                    body=event.data.encode(),
                    status=200,
                ) from None
        if candidate.finish is not None:
            if candidate.finish in BLOCKING_REASONS and not self._sent:
                raise blocked(
                    self._provider,
                    self._model,
                    candidate.finish,
                    candidate.ratings,
                    "the answer was stopped by a content filter",
                )
            events.append(FinishEvent(finish_reason(candidate.finish, self._calls > 0)))
            self.finished = True
        return events

    def _error(self, data: dict[str, object]) -> ProviderError:
        message, status, wait, _, _ = error_details(data)
        return ProviderError(
            message or "error event in the stream",
            provider=self._provider,
            model=self._model,
            error_type=status,
            retryable=status in ("UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED"),
            retry_after=wait,
        )
