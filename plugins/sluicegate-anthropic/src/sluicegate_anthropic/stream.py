"""Reading a streamed Messages API answer, one SSE event at a time.

A stream is ``message_start``, then for each content block ``content_block_start``,
``content_block_delta``... and ``content_block_stop``, then ``message_delta`` (stop reason,
output tokens) and ``message_stop``; ``ping`` may come at any point, and ``error`` replaces
the rest when the server fails mid-way (``overloaded_error`` in a 200 stream). Event types
this decoder does not know are skipped, as Anthropic's versioning policy asks of clients,
so a new event type never breaks a running application.

The decoder dispatches on the JSON ``type`` field (which every event carries) rather than
the SSE ``event:`` line, so a relay that drops event names still works; the name is only
used to skip pings without parsing them.
"""

from __future__ import annotations

import json
from typing import Any

from sluicegate.errors import ProviderError, ResponseFormatError
from sluicegate.sse import SSEEvent
from sluicegate.types import (
    FinishEvent,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from sluicegate_anthropic.wire import (
    NEVER_RETRY_CODES,
    RETRYABLE_STREAM_ERRORS,
    error_fields,
    finish_reason,
)

_loads = json.loads


class AnthropicStreamDecoder:
    """Turns one stream's SSE events into sluicegate stream events.

    Text blocks become :class:`TextDelta`; a ``tool_use`` block becomes
    :class:`ToolCallDelta` pieces at the block's index (the first carrying id and name,
    the rest the arguments' JSON text as the model writes it). Thinking and server-tool
    blocks are not part of the answer and are skipped. Usage is reported twice: input
    tokens at ``message_start``, output tokens (with any cumulative input counts the
    server repeats) at ``message_delta``; each :class:`UsageEvent` carries the full
    counts known so far, so a consumer may keep just the last one.
    """

    __slots__ = (
        "_cache_creation",
        "_cache_read",
        "_input",
        "_model",
        "_output",
        "_provider",
        "_tool_blocks",
        "finished",
    )

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._tool_blocks: set[int] = set()
        self._input = 0
        self._cache_read = 0
        self._cache_creation = 0
        self._output = 0
        self.finished = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        if event.event == "ping":
            return []
        try:
            data = _loads(event.data)
        except ValueError:
            raise self._malformed("stream event is not JSON", event) from None
        if not isinstance(data, dict):
            raise self._malformed("stream event is not an object", event)
        try:
            return self._dispatch(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self._malformed("stream event is missing fields", event) from None

    def _dispatch(self, data: dict[str, Any]) -> list[StreamEvent]:
        kind = data.get("type")
        if kind == "content_block_delta":  # by far the most frequent: test it first
            delta = data["delta"]
            delta_type = delta["type"]
            if delta_type == "text_delta":
                text = delta["text"]
                return [TextDelta(text)] if text else []
            if delta_type == "input_json_delta":
                index = int(data["index"])
                partial = delta["partial_json"]
                if partial and index in self._tool_blocks:
                    return [ToolCallDelta(index=index, arguments=partial)]
            # thinking_delta, signature_delta, citations_delta: not answer text
            return []
        if kind == "content_block_start":
            block = data["content_block"]
            block_type = block["type"]
            if block_type == "text":
                text = block.get("text")
                return [TextDelta(text)] if text else []
            if block_type == "tool_use":
                index = int(data["index"])
                self._tool_blocks.add(index)
                # ``input`` is always {} here; the arguments arrive as input_json_delta.
                return [ToolCallDelta(index=index, id=block["id"], name=block["name"])]
            return []
        if kind == "message_start":
            usage = data["message"].get("usage")
            return [self._usage(usage)] if usage else []
        if kind == "message_delta":
            out: list[StreamEvent] = []
            reason = data["delta"].get("stop_reason")
            if reason is not None:
                out.append(FinishEvent(finish_reason(reason)))
            usage = data.get("usage")
            if usage:
                out.append(self._usage(usage))
            return out
        if kind == "message_stop":
            self.finished = True
            return []
        if kind == "error":
            raise self._error(data)
        # content_block_stop, ping (unnamed), and event types added after this was written
        return []

    def _usage(self, usage: dict[str, Any]) -> UsageEvent:
        """The counts so far; a field the event leaves out keeps its earlier value, since
        ``message_delta`` may or may not repeat the input counts of ``message_start``."""
        value = usage.get("input_tokens")
        if value is not None:
            self._input = int(value)
        value = usage.get("cache_read_input_tokens")
        if value is not None:
            self._cache_read = int(value)
        value = usage.get("cache_creation_input_tokens")
        if value is not None:
            self._cache_creation = int(value)
        value = usage.get("output_tokens")
        if value is not None:
            self._output = int(value)
        return UsageEvent(
            Usage(
                input_tokens=self._input + self._cache_read + self._cache_creation,
                output_tokens=self._output,
                cached_tokens=self._cache_read,
                cache_write_tokens=self._cache_creation,
            )
        )

    def _error(self, data: dict[str, Any]) -> ProviderError:
        """The ``error`` event as a ProviderError with status 200. The dispatcher turns it
        into a :class:`~sluicegate.errors.StreamError` (same type, flag and request id)
        whose ``partial_text`` is the text already delivered; the retry and fallback
        stages replace the stream while no text or tool-call delta reached the caller,
        which the usage of ``message_start`` does not count as."""
        message, error_type, code, request_id = error_fields(data)
        return ProviderError(
            (f"{message} ({code})" if code else message) if message else "error event in stream",
            provider=self._provider,
            model=self._model,
            status=200,
            error_type=error_type,
            retryable=error_type in RETRYABLE_STREAM_ERRORS and code not in NEVER_RETRY_CODES,
            request_id=request_id,
        )

    def _malformed(self, what: str, event: SSEEvent) -> ResponseFormatError:
        return ResponseFormatError(
            f"{what}: event {event.event!r}, data {event.data[:200]!r}",
            provider=self._provider,
            model=self._model,
            status=200,
            retryable=True,
        )
