"""Provider-neutral values that flow through the chain: requests, responses, stream events.

Every value here is immutable (frozen dataclasses with slots) so a middleware can hand a
changed copy down the chain (``request.replace(...)``) without surprising a stage above it,
and so a request can be retried or fanned out to several models without defensive copies.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from sluicegate.errors import BadInputError
from sluicegate.secrets import Secret

if TYPE_CHECKING:
    from sluicegate.cost.budget import Budget
    from sluicegate.structured.schema import AnswerSchema

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
_ROLES = frozenset(("system", "user", "assistant", "tool"))
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text content."""

    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image given by URL (``https://`` or a ``data:`` URL)."""

    url: str
    type: Literal["image"] = "image"


ContentPart: TypeAlias = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for; ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message. ``content`` is plain text or a tuple of parts."""

    role: Role
    content: str | tuple[ContentPart, ...] = ""
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def text(self) -> str:
        """The message's text, with the text parts joined."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @classmethod
    def coerce(cls, value: Message | Mapping[str, Any], where: str = "message") -> Message:
        """Build a Message from an OpenAI-style dict, naming the bad field on failure."""
        if isinstance(value, Message):
            return value
        if type(value) is dict and len(value) == 2:
            # the common case, {"role": ..., "content": "text"}, without the general checks
            role, text = value.get("role"), value.get("content")
            if role in _ROLES and type(text) is str:
                return cls(role=role, content=text)
        if not isinstance(value, Mapping):
            raise BadInputError(f"{where} must be a mapping with 'role' and 'content'", field=where)
        role = value.get("role")
        if role not in _ROLES:
            raise BadInputError(
                f"{where}.role must be one of {sorted(_ROLES)}, got {role!r}", field=f"{where}.role"
            )
        raw = value.get("content", "")
        content: str | tuple[ContentPart, ...]
        if raw is None or isinstance(raw, str):
            content = raw or ""
        elif isinstance(raw, Sequence):
            content = tuple(_coerce_part(p, f"{where}.content[{i}]") for i, p in enumerate(raw))
        else:
            raise BadInputError(
                f"{where}.content must be a string or a list of parts", field=f"{where}.content"
            )
        calls = tuple(
            ToolCall(
                id=str(c.get("id", "")),
                name=str(c.get("function", {}).get("name", "")),
                arguments=str(c.get("function", {}).get("arguments", "")),
            )
            for c in value.get("tool_calls") or ()
        )
        return cls(
            role=role,
            content=content,
            name=value.get("name"),
            tool_call_id=value.get("tool_call_id"),
            tool_calls=calls,
        )


def _coerce_part(part: Any, where: str) -> ContentPart:
    if isinstance(part, TextPart | ImagePart):
        return part
    if isinstance(part, Mapping):
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            return TextPart(part["text"])
        if kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, Mapping) else url
            if isinstance(url, str):
                return ImagePart(url)
    raise BadInputError(f"{where} is not a text or image_url part", field=where)


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call: name, description and JSON-schema parameters."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def coerce(cls, value: Tool | Mapping[str, Any]) -> Tool:
        """Accept a Tool or the OpenAI ``{"type": "function", "function": {...}}`` form."""
        if isinstance(value, Tool):
            return value
        fn = value.get("function", value)
        return cls(
            name=str(fn["name"]),
            description=str(fn.get("description", "")),
            parameters=MappingProxyType(dict(fn.get("parameters", {}))),
        )


@dataclass(frozen=True, slots=True)
class Params:
    """Sampling and tool parameters. ``extra`` passes provider-specific fields through.

    ``response_format`` asks for a structured answer (:mod:`sluicegate.structured`): each
    codec asks its provider for JSON of that shape by the provider's own means, and the
    structured stage parses, validates and re-asks."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: str | Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    response_format: AnswerSchema | None = None

    _KNOWN = frozenset(
        ("temperature", "max_tokens", "top_p", "stop", "tools", "tool_choice", "response_format")
    )

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> Params:
        """Split keyword arguments into known parameters and provider-specific extras."""
        if not kwargs:
            return _DEFAULT_PARAMS
        stop = kwargs.get("stop")
        tools = kwargs.get("tools")
        response_format = kwargs.get("response_format")
        if response_format is not None:
            from sluicegate.structured.schema import answer_schema

            response_format = answer_schema(response_format)
        extra = {k: v for k, v in kwargs.items() if k not in cls._KNOWN}
        return cls(
            temperature=kwargs.get("temperature"),
            max_tokens=kwargs.get("max_tokens"),
            top_p=kwargs.get("top_p"),
            stop=(stop,) if isinstance(stop, str) else tuple(stop) if stop else (),
            tools=tuple(Tool.coerce(t) for t in tools) if tools else (),
            tool_choice=kwargs.get("tool_choice"),
            extra=MappingProxyType(extra) if extra else _EMPTY,
            response_format=response_format,
        )


_DEFAULT_PARAMS = Params()


_KEEP: Any = object()
"""The default of every argument of a generated ``replace``: keep the field's value."""


def _replacer(cls: type) -> Callable[..., Any]:
    """A ``replace(obj, **changes)`` for the frozen, slotted dataclass ``cls``, generated
    once at import: straight-line code that fills a new instance's slots directly.

    Several stages copy the Request or Response on every request (idempotency key,
    credential, cost, latency), and ``cls(**changes)`` through a frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field, plus packing every field into
    keyword arguments) costs ~2.8 µs per copy; this costs ~1 µs. It is only for classes
    without ``__post_init__``, whose ``__init__`` does nothing but store the fields, so
    the copy is the same object ``__init__`` would build; an unknown field name is a
    ``TypeError`` as before.
    """
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} validates in __post_init__; copy it through __init__")
    names = [f.name for f in fields(cls)]
    arguments = ", ".join(f"{name}=_KEEP" for name in names)
    stores = "".join(
        f"    set_{name}(new, self.{name} if {name} is _KEEP else {name})\n" for name in names
    )
    source = (
        f"def replace(self, *, {arguments}):\n    new = new_instance(cls)\n{stores}    return new\n"
    )
    namespace: dict[str, Any] = {"_KEEP": _KEEP, "new_instance": object.__new__, "cls": cls}
    namespace.update({f"set_{name}": getattr(cls, name).__set__ for name in names})
    exec(source, namespace)  # the source is built above from the class's own field names
    replace: Callable[..., Any] = namespace["replace"]
    replace.__qualname__ = f"{cls.__name__}.replace"
    return replace


_request_counter = itertools.count(1)
_PROCESS_TAG = f"{os.getpid():x}"


def new_request_id() -> str:
    """A short id unique within the process, cheap enough to make for every request."""
    return f"req_{_PROCESS_TAG}_{next(_request_counter):x}"


@dataclass(frozen=True, slots=True)
class Metadata:
    """What the caller and the chain know about a request beyond what the provider sees.

    ``deadline`` is an absolute time on the client's clock (seconds), or None; it covers
    every attempt and every wait. ``fallbacks`` are models to try, in order, when this
    one's circuit is open or its retries are spent. ``attempt`` is set by the retry stage
    (1 for the first try). ``budget`` is a run's :class:`~sluicegate.cost.budget.Budget` that
    this request reserves its cost against, besides the client's and its tags' budgets.
    ``timeout`` and ``connect_timeout`` replace the client's per-attempt transport timers
    for this request only (seconds); None keeps the client's, so a request that sets
    neither costs the transports nothing extra. ``reasks`` replaces the structured
    stage's count of re-asks for a ``response_format=`` call (None keeps the stage's).
    """

    request_id: str = ""
    caller_id: str | None = None
    tags: tuple[str, ...] = ()
    deadline: float | None = None
    idempotency_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    fallbacks: tuple[str, ...] = ()
    attempt: int = 1
    budget: Budget | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    reasks: int | None = None

    def replace(self, **changes: Any) -> Metadata:
        """A copy with some fields changed."""
        return _replace_metadata(self, **changes)  # type: ignore[no-any-return]


_replace_metadata = _replacer(Metadata)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One logical call: a model (``"provider/model"``), messages, parameters and metadata.

    ``credential`` is filled in by the auth middleware, innermost in the chain, so the key
    depends on the provider that the outer stages (fallback) finally chose; it is a
    :class:`Secret` and never shows in a repr.
    """

    model: str
    messages: tuple[Message, ...]
    params: Params = _DEFAULT_PARAMS
    metadata: Metadata = field(default_factory=Metadata)
    stream: bool = False
    credential: Secret | None = field(default=None, repr=False, compare=False)
    wire: Any = field(default=None, repr=False, compare=False)
    """An HTTP message to send as it is instead of one the codec builds from the fields
    above (:mod:`sluicegate.sdk`: an official SDK's own request, which the fields then only
    summarise for the stages). None for every request sluicegate builds itself."""

    @property
    def provider(self) -> str:
        """The provider part of ``model`` (before the first ``/``)."""
        return self.model.partition("/")[0]

    @property
    def model_name(self) -> str:
        """The model as the provider names it (after the first ``/``)."""
        return self.model.partition("/")[2]

    def replace(self, **changes: Any) -> Request:
        """A copy with some fields changed (the chain's way to alter a request)."""
        return _replace_request(self, **changes)  # type: ignore[no-any-return]


_replace_request = _replacer(Request)


def coerce_messages(messages: str | Iterable[Message | Mapping[str, Any]]) -> tuple[Message, ...]:
    """Accept a prompt string, Messages, or OpenAI-style dicts."""
    if isinstance(messages, str):
        return (Message(role="user", content=messages),)
    return tuple(Message.coerce(m, f"messages[{i}]") for i, m in enumerate(messages))


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider reported them.

    ``input_tokens`` is the whole prompt, as OpenAI reports it; ``cached_tokens`` (read
    from the provider's prompt cache, billed at the cached-input price) and
    ``cache_write_tokens`` (written to it, which Anthropic bills above the input price)
    are parts of it, never added on top, so every codec reports the same shape and the
    cost is computed one way (:func:`sluicegate.cost.rates.cost_of`).

    ``reasoning_tokens`` are the model's thinking (OpenAI's ``reasoning_tokens``, Gemini's
    ``thoughtsTokenCount``, which Gemini reports beside its answer's count): a part of
    ``output_tokens``, billed as output, so a codec whose API counts them apart adds them
    in and the cost stays one formula.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def updated(self, later: Usage) -> Usage:
        """These counts with a later report of the same answer laid over them: each count
        ``later`` gives (non-zero) wins, one it leaves at zero keeps its value here.

        A stream reports usage in pieces or more than once (Anthropic's input counts come
        in ``message_start``, the output in ``message_delta``; an OpenAI-compatible server
        may send a last chunk with the prompt count only), so the last report alone can
        lack a count an earlier one had; summing would count a repeated one twice. The
        one statement of the rule, for everything that follows a stream's usage."""
        return Usage(
            later.input_tokens or self.input_tokens,
            later.output_tokens or self.output_tokens,
            later.cached_tokens or self.cached_tokens,
            later.cache_write_tokens or self.cache_write_tokens,
            later.reasoning_tokens or self.reasoning_tokens,
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """The result of one logical call, whichever attempt and model produced it."""

    text: str
    model: str
    provider: str
    content: tuple[ContentPart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    request_id: str = ""
    latency: float = 0.0
    attempts: int = 1
    cost: float | None = None
    parsed: Any = None
    """The structured answer (``response_format=``): a pydantic model instance, or the
    JSON value for a dict schema; None for a plain call."""
    raw: Any = field(default=None, repr=False, compare=False)
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY, repr=False, compare=False)
    """The answer's rate-limit headers (``x-ratelimit-*``, ``anthropic-ratelimit-*``,
    ``retry-after``), lower-case: what the adaptive rate limiter reads. Other headers are
    not kept, so a response holds nothing a server sets for its own use (cookies)."""

    def replace(self, **changes: Any) -> Response:
        """A copy with some fields changed (how middleware stamps latency, attempts, cost)."""
        return _replace_response(self, **changes)  # type: ignore[no-any-return]


_replace_response = _replacer(Response)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of answer text as it arrives."""

    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call: the first piece of a call carries its id and name."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: Literal["tool_call_delta"] = "tool_call_delta"


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """Token counts reported by the stream (may come more than once; the last one wins
    per field that is non-zero, as Anthropic reports input at start and output at end)."""

    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class FinishEvent:
    """The provider said why generation stopped."""

    reason: str | None
    type: Literal["finish"] = "finish"


@dataclass(frozen=True, slots=True)
class Done:
    """The stream ended normally; ``response`` is the same Response a plain call gives."""

    response: Response
    type: Literal["done"] = "done"


@dataclass(frozen=True, slots=True)
class WireChunk:
    """Bytes of a passed-through stream, exactly as the provider sent them: the stream of
    an official SDK's request (:func:`sluicegate.http_client`), which the SDK parses
    itself. The events decoded from the same bytes travel beside them, so the stages
    count usage and tell text from bookkeeping as for any stream.

    The first chunk of a stream carries the answer's ``status`` and ``headers`` (the SDK
    reads its own request id and rate-limit headers from them); later ones carry none. A
    stream's bytes are held back until its first text or tool-call delta (or its end), so
    a stream that fails before any content is still replaced by a retry unseen, as
    :class:`~sluicegate.streaming.ReplaceableSource` does for every stream."""

    data: bytes
    status: int = 0
    headers: Mapping[str, str] | None = field(default=None, repr=False)
    last: bool = False
    """These bytes hold the stream's end marker: only Done follows. (A reader such as an
    SDK stops at the marker; the transport takes Done first, so the chain hears the
    stream end before the reader closes it.)"""
    type: Literal["wire_chunk"] = "wire_chunk"


StreamEvent: TypeAlias = TextDelta | ToolCallDelta | UsageEvent | FinishEvent | WireChunk | Done
