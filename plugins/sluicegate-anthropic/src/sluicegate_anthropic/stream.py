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

from typing import Any

from sluicegate import (
    FinishEvent,
    ProviderError,
    ResponseFormatError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from sluicegate.plugins import (
    MalformedField,
    SSEEvent,
    describe,
    index,
    parse_json,
    text,
    token_count,
)
from sluicegate_anthropic.wire import (
    NEVER_RETRY_CODES,
    RETRYABLE_STREAM_ERRORS,
    error_fields,
    finish_reason,
    usage_of,
)


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
            data = parse_json(event.data, "data")
            if type(data) is not dict:
                raise MalformedField("data", f"expected an object, got {describe(data)}")
            return self._dispatch(data)
        except MalformedField as exc:
            raise self._malformed(str(exc), event) from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
            # a shape the checks miss is still a typed error, never a traceback
            raise self._malformed(f"{type(exc).__name__}: {exc}", event) from None

    def _dispatch(self, data: dict[str, Any]) -> list[StreamEvent]:
        kind = data.get("type")
        if kind == "content_block_delta":  # by far the most frequent: test it first
            delta = _object(data.get("delta"), "delta")
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                piece = _string(delta.get("text"), "delta.text")
                return [TextDelta(piece)] if piece else []
            if delta_type == "input_json_delta":
                position = index(data.get("index"), "index")
                partial = _string(delta.get("partial_json"), "delta.partial_json")
                if partial and position in self._tool_blocks:
                    return [ToolCallDelta(index=position, arguments=partial)]
                return []
            if type(delta_type) is not str:
                raise MalformedField("delta.type", f"expected a string, got {describe(delta_type)}")
            # thinking_delta, signature_delta, citations_delta: not answer text
            return []
        if kind == "content_block_start":
            block = _object(data.get("content_block"), "content_block")
            block_type = block.get("type")
            if block_type == "text":
                first = text(block.get("text"), "content_block.text")
                return [TextDelta(first)] if first else []
            if block_type == "tool_use":
                position = index(data.get("index"), "index")
                self._tool_blocks.add(position)
                # ``input`` is always {} here; the arguments arrive as input_json_delta.
                return [
                    ToolCallDelta(
                        index=position,
                        id=_string(block.get("id"), "content_block.id"),
                        name=_string(block.get("name"), "content_block.name"),
                    )
                ]
            if type(block_type) is not str:
                raise MalformedField(
                    "content_block.type", f"expected a string, got {describe(block_type)}"
                )
            return []
        if kind == "message_start":
            usage = _object(data.get("message"), "message").get("usage")
            return [self._usage(usage, "message.usage")] if usage else []
        if kind == "message_delta":
            out: list[StreamEvent] = []
            delta = _object(data.get("delta"), "delta")
            reason = text(delta.get("stop_reason"), "delta.stop_reason")
            if reason is not None:
                out.append(FinishEvent(finish_reason(reason)))
            usage = data.get("usage")
            if usage:
                out.append(self._usage(usage, "usage"))
            return out
        if kind == "message_stop":
            self.finished = True
            return []
        if kind == "error":
            raise self._error(data)
        if type(kind) is not str:
            raise MalformedField("type", f"expected a string, got {describe(kind)}")
        # content_block_stop, ping (unnamed), and event types added after this was written
        return []

    def _usage(self, data: object, path: str) -> UsageEvent:
        """The counts so far; a field the event leaves out keeps its earlier value, since
        ``message_delta`` may or may not repeat the input counts of ``message_start``.
        Every count is checked (:func:`sluicegate.plugins.token_count`)."""
        usage = _object(data, path)
        value = usage.get("input_tokens")
        if value is not None:
            self._input = token_count(value, f"{path}.input_tokens")
        value = usage.get("cache_read_input_tokens")
        if value is not None:
            self._cache_read = token_count(value, f"{path}.cache_read_input_tokens")
        value = usage.get("cache_creation_input_tokens")
        if value is not None:
            self._cache_creation = token_count(value, f"{path}.cache_creation_input_tokens")
        value = usage.get("output_tokens")
        if value is not None:
            self._output = token_count(value, f"{path}.output_tokens")
        return UsageEvent(
            usage_of(self._input, self._cache_read, self._cache_creation, self._output, path)
        )

    def _error(self, data: dict[str, Any]) -> ProviderError:
        """The ``error`` event as a ProviderError with status 200. The dispatcher turns it
        into a :class:`~sluicegate.StreamError` (same type, flag and request id)
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

    def _malformed(self, problem: str, event: SSEEvent) -> ResponseFormatError:
        return ResponseFormatError(
            f"malformed stream event: {problem}; event {event.event!r}, data {event.data[:200]!r}",
            provider=self._provider,
            model=self._model,
            status=200,
            retryable=True,
        )


def _object(value: object, path: str) -> dict[str, Any]:
    """An object field an event must have."""
    if type(value) is not dict:
        raise MalformedField(path, f"expected an object, got {describe(value)}")
    return value


def _string(value: object, path: str) -> str:
    """A string field an event must have."""
    if type(value) is not str:
        raise MalformedField(path, f"expected a string, got {describe(value)}")
    return value
