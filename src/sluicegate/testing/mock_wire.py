"""The seam between the request pipeline and the wire formats.

The pipeline (:mod:`sluicegate.testing.mock_app`) knows no JSON shapes: a wire format
(:mod:`~sluicegate.testing.mock_openai`, :mod:`~sluicegate.testing.mock_anthropic`)
turns a request body into a provider-neutral :class:`MockJob` and a job back into an
answer, plain or streamed, or any outcome into a provider-shaped error. Gates that apply
to both providers (admission checks, later rate limits) look only at the job.

The rules both formats share live here too, so the two cannot drift apart: what text a
message holds, what a valid ``max_tokens`` is, and when and how a request turns into a
tool call.

Tool calls
    When the request offers tools, does not forbid them, its last message is the user's
    (not a tool result) and contains the word ``MockConfig.tool_trigger``, the answer is
    one call of the first offered tool whose name contains the trigger (else the first
    one) with arguments ``{"location": <word after "in", capitalised, else "Paris">}``.
    Each format decides what "offers", "forbids" and "tool result" mean in its shape.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from sluicegate.testing.content import (
    Answer,
    count_input_tokens,
    count_tokens,
    generate_answer,
    text_answer,
)
from sluicegate.testing.faults import ErrorReply, FaultKind, Provider, fault_reply, provider_error
from sluicegate.testing.mock_structured import structured_text

if TYPE_CHECKING:
    from sluicegate.testing.mock_config import MockConfig
    from sluicegate.testing.mock_streaming import StreamFrames

__all__ = [
    "AdmissionCheck",
    "MockJob",
    "Reading",
    "ToolCall",
    "WireFormat",
    "checked_max_tokens",
    "dumps",
    "json_type",
    "text_of",
]

_CITY_PATTERN = re.compile(r"\bin\s+([^\W\d_][\w-]*)", re.IGNORECASE)
_ARGUMENT_PIECE = 8  # characters of tool-call arguments per streamed delta

dumps: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":")).encode
"""Compact JSON, as the real APIs send it. One shared encoder: ``json.dumps`` with
non-default separators builds a new encoder on every call, and this runs per piece."""


@dataclass(slots=True)
class ToolCall:
    """The one tool call an answer makes instead of text."""

    call_id: str
    name: str
    arguments: str
    """The arguments as a JSON object text, as OpenAI sends them."""

    @property
    def output_tokens(self) -> int:
        return count_tokens(self.name) + count_tokens(self.arguments)


@dataclass(slots=True)
class MockJob:
    """A validated completion request, provider-neutral, as admission checks see it."""

    provider: Provider
    model: str
    stream: bool
    include_usage: bool
    input_tokens: int
    max_tokens: int | None
    answer: Answer
    tool: ToolCall | None
    request_id: str
    serial: int
    idempotency_key: str | None

    @property
    def output_tokens(self) -> int:
        return self.tool.output_tokens if self.tool is not None else self.answer.output_tokens

    @property
    def pieces(self) -> Sequence[str]:
        """What a stream sends one by one: answer tokens, or slices of tool arguments."""
        if self.tool is None:
            return self.answer.tokens
        args = self.tool.arguments
        return [args[i : i + _ARGUMENT_PIECE] for i in range(0, len(args), _ARGUMENT_PIECE)]


AdmissionCheck = Callable[[MockJob], ErrorReply | None]
"""Called for every valid completion request before it is answered; returning an error
answers with it instead. The hook rate limits and similar gates attach to."""


class Reading(NamedTuple):
    """What a wire format read from a valid request body, before the answer is made."""

    model: str
    stream: bool
    include_usage: bool
    """Whether a stream ends with a usage event (Anthropic's always carries usage)."""
    texts: list[str]
    """The text of every message, a system prompt included: what input tokens count."""
    prompt: str
    """The text of the last user message: what the answer answers."""
    max_tokens: int | None
    tool: ToolCall | None
    text: str | None = None
    """The answer's text when the request fixed it (a structured answer,
    :mod:`~sluicegate.testing.mock_structured`); None: the generated answer."""


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the ``text`` of its parts (and of
    parts nested in ``content``, like Anthropic tool results), joined by spaces so the
    token count of the join is the sum of the parts'."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, str):
                parts.append(text)
            elif "content" in part:
                parts.append(text_of(part["content"]))
    return " ".join(parts)


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, with its article, as error messages name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def checked_max_tokens(value: Any) -> int | str | None:
    """The value, None when absent, or a str saying what is wrong."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "must be an integer >= 1"
    return value


class WireFormat(ABC):
    """One provider's JSON shapes: request parsing, answers, stream events and errors.

    One instance per app, built from its config. Subclasses set the class attributes and
    implement the abstract methods; the rest is shared.
    """

    provider: ClassVar[Provider]
    request_id_header: ClassVar[str]
    """Response header carrying the request id."""
    key_header: ClassVar[str | None] = None
    """The header that carries the key besides ``Authorization: Bearer`` (Anthropic's
    ``x-api-key``, Gemini's ``x-goog-api-key``); None: only the Bearer token."""
    server_error_type: ClassVar[str]
    """Error type of a 5xx the mock decides itself (shutting down)."""

    __slots__ = ("_tool_pattern", "_tool_word", "config", "models")

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.models = frozenset(config.models) if config.models is not None else None
        """Accepted model names; None accepts any."""
        trigger = config.tool_trigger
        self._tool_word = trigger.lower()
        self._tool_pattern = re.compile(rf"\b{re.escape(trigger)}\b", re.IGNORECASE)

    # -- what each format defines ----------------------------------------------------------

    @abstractmethod
    def _read(self, body: dict[str, Any], serial: int, request_id: str) -> Reading | ErrorReply:
        """What a request body asks for, or the 400/404 the provider would answer, in
        the order the provider checks. ``serial`` numbers the tool call id."""

    @abstractmethod
    def _model_not_found(self, model: str, request_id: str) -> ErrorReply:
        """The 404 for a model ``MockConfig.models`` does not list."""

    @abstractmethod
    def render(self, job: MockJob, created: int | None = None) -> bytes:
        """The plain (non-streamed) answer's JSON body. ``created`` (Unix seconds) fixes
        the timestamp a format writes (now, when None), so a batch result downloaded
        twice is the same bytes."""

    @abstractmethod
    def stream(self, job: MockJob, fault: FaultKind | None) -> StreamFrames:
        """The streamed answer's events; ``fault`` says which fault event to prepare."""

    @abstractmethod
    def auth_error(self, key_sent: bool, request_id: str) -> ErrorReply:
        """The 401 for a missing or wrong key. Neither key is ever echoed: error bodies
        end up in logs."""

    @abstractmethod
    def model_listing(self, names: Sequence[str]) -> dict[str, Any]:
        """The ``GET /v1/models`` body."""

    # -- shared ----------------------------------------------------------------------------

    def bind(self, body: dict[str, Any], path_params: Mapping[str, str]) -> dict[str, Any]:
        """The request's fields: the body, with what the URL's path names bound into it
        (Gemini names the model in the path). The body as it is, for formats that name
        everything in it."""
        return body

    def parse(
        self, body: dict[str, Any], serial: int, request_id: str, idempotency_key: str | None
    ) -> MockJob | ErrorReply:
        """The job a request body asks for, or the 400/404 the provider would answer."""
        reading = self._read(body, serial, request_id)
        if isinstance(reading, ErrorReply):
            return reading
        model, stream, include_usage, texts, prompt, max_tokens, tool, text = reading
        return MockJob(
            provider=self.provider,
            model=model,
            stream=stream,
            include_usage=include_usage,
            input_tokens=count_input_tokens(texts),
            max_tokens=max_tokens,
            answer=(
                generate_answer(prompt, max_tokens, model)
                if text is None
                else text_answer(text, max_tokens)
            ),
            tool=tool,
            request_id=request_id,
            serial=serial,
            idempotency_key=idempotency_key,
        )

    def response_headers(self, request_id: str) -> dict[str, str]:
        return {self.request_id_header: request_id}

    def invalid(
        self, message: str, param: str | None, request_id: str, code: str | None = None
    ) -> ErrorReply:
        """A 400 ``invalid_request_error`` (``param`` and ``code`` show in OpenAI's
        shape only; Anthropic names the field in the message)."""
        return provider_error(
            self.provider,
            400,
            "invalid_request_error",
            message,
            param=param,
            code=code,
            request_id=request_id,
        )

    def fault_reply(
        self, fault: FaultKind, request_id: str, retry_after_s: float | None = None
    ) -> ErrorReply:
        """The error answer of a status fault (see :func:`~.faults.fault_reply`);
        ``retry_after_s`` (a fault window's) replaces ``MockConfig.retry_after_s``."""
        config = self.config
        return fault_reply(
            fault,
            self.provider,
            retry_after_s=config.retry_after_s if retry_after_s is None else retry_after_s,
            anthropic_overloaded_status=config.anthropic_overloaded_status,
            request_id=request_id,
        )

    def shutting_down(self, request_id: str) -> ErrorReply:
        """The 503 that ends a ``hang`` when the server shuts down."""
        return provider_error(
            self.provider,
            503,
            self.server_error_type,
            "The mock server is shutting down.",
            request_id=request_id,
        )

    # -- parsing rules both formats share ----------------------------------------------------

    @abstractmethod
    def _bad_message(self, index: int, message: Any, request_id: str) -> ErrorReply | None:
        """The 400 the provider answers for ``messages[index]`` (not an object, a role it
        does not know, a content neither text nor a list of parts), worded as it words
        it; None if the message is valid."""

    def _read_messages(
        self, messages: list[Any], texts: list[str], request_id: str
    ) -> str | ErrorReply:
        """Append the text of every message to ``texts`` and return the prompt (the text
        of the last user message), or the 400 for the first invalid message."""
        prompt = ""
        for index, message in enumerate(messages):
            bad = self._bad_message(index, message, request_id)
            if bad is not None:
                return bad
            text = text_of(message.get("content"))
            texts.append(text)
            if message["role"] == "user":
                prompt = text
        return prompt

    def _unknown_model(self, model: str, request_id: str) -> ErrorReply | None:
        """The 404 if ``MockConfig.models`` is set and does not list ``model``."""
        if self.models is None or model in self.models:
            return None
        return self._model_not_found(model, request_id)

    def _structured(self, schema: Any, prompt: str, messages: list[Any], *, as_tool: bool) -> str:
        """A structured answer's text for this conversation (see
        :mod:`~sluicegate.testing.mock_structured`); the ask's number is the count of
        assistant turns so far."""
        ask = sum(1 for m in messages if m.get("role") in ("assistant", "model"))
        return structured_text(
            schema if isinstance(schema, dict) else None,
            prompt,
            ask=ask,
            invalid_answers=self.config.invalid_json_answers,
            as_tool=as_tool,
        )

    def _wants_tool(self, prompt: str) -> bool:
        """Whether the prompt contains the tool trigger word."""
        return self._tool_pattern.search(prompt) is not None

    def _tool_call(self, prompt: str, names: list[str], call_id: str) -> ToolCall | None:
        """The call of the offered tool (``names``) the trigger word picks; None if no
        tool of the right kind was offered."""
        if not names:
            return None
        word = self._tool_word
        name = next((n for n in names if word in n.lower()), names[0])
        match = _CITY_PATTERN.search(prompt)
        city = match.group(1).capitalize() if match else "Paris"
        return ToolCall(call_id, name, dumps({"location": city}))
