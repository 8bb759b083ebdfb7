"""The mock LLM server: an ASGI app that speaks OpenAI Chat Completions and Anthropic
Messages, plain and streamed, with deterministic content, latency and fault injection.

It is a plain ASGI callable (a Starlette app), so it runs behind hypercorn
(:func:`sluicegate.testing.serve_mock`) or directly through an in-memory transport.
Only anyio is used for waiting, so it runs under asyncio and trio alike.

Routes
    ``POST /v1/chat/completions`` (OpenAI), ``POST /v1/messages`` (Anthropic),
    ``GET /v1/models`` (Anthropic's list shape when the request carries ``anthropic-version``
    or ``x-api-key``, else OpenAI's), ``GET /_mock/stats``, ``POST /_mock/reset``.

What a completion request goes through, in order
    1. counted in the stats (``/_mock/*`` requests are not counted);
    2. API key check, when ``MockConfig.require_api_key`` is set: ``Authorization: Bearer``
       on every route, or ``x-api-key`` on Anthropic routes (401, key never echoed);
    3. body parsed as JSON (400 if not);
    4. fault decision (see :mod:`sluicegate.testing.faults`): a status fault answers now;
    5. request validated (400; unknown model 404 when ``MockConfig.models`` is set);
    6. ``admission_checks`` (empty; the hook later rate limits plug into);
    7. ``hang`` fault, then ``latency_s`` before the first byte, then the answer, with
       ``per_token_latency_s`` between streamed pieces (or once per output token, summed,
       for a plain answer). Status faults are answered without latency, like a gateway
       that rejects early.

A request whose answer is complete and undamaged counts as ``succeeded`` in the stats
(and for its ``Idempotency-Key``); a stream counts when its last event was sent, so one
whose client went away (noticed through ``http.disconnect``) does not.

Content
    See :mod:`sluicegate.testing.content`. The prompt is the text of the last user
    message; input tokens count every message. ``n``, ``stop``, ``temperature`` and the
    like are accepted and ignored.

Tool calls
    When the request offers tools (OpenAI ``function`` tools; Anthropic client tools with
    an ``input_schema``), ``tool_choice`` is not "none", the last message is the user's
    (not a tool result) and it contains the word ``MockConfig.tool_trigger`` ("weather"),
    the answer is one call of the first tool whose name contains the trigger (else the
    first tool) with arguments ``{"location": <word after "in", capitalised, else
    "Paris">}``. Its output tokens are ``count_tokens(name) + count_tokens(arguments)``.

Models
    With ``MockConfig.models = None`` (the default) every model name is accepted, because
    users address the mock as ``mock/<anything>`` and the server sees ``<anything>``;
    ``GET /v1/models`` then lists :data:`DEFAULT_MODELS`. With a list, only exactly those
    names are accepted and an unknown one is a provider-shaped 404.
"""

from __future__ import annotations

import hmac
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sluicegate.testing.content import Answer, count_input_tokens, count_tokens, generate_answer
from sluicegate.testing.faults import (
    FAULT_HEADER,
    STATUS_FAULTS,
    ErrorReply,
    FaultKind,
    FaultPlan,
    MockConnectionCut,
    Provider,
    fault_reply,
    provider_error,
)

__all__ = [
    "DEFAULT_MODELS",
    "AdmissionCheck",
    "MockApp",
    "MockConfig",
    "MockJob",
    "MockStats",
    "create_app",
]

DEFAULT_MODELS: tuple[str, ...] = ("fast", "smart")
"""Models listed by ``GET /v1/models`` when ``MockConfig.models`` is None."""

SYSTEM_FINGERPRINT = "fp_sluicegate_mock"
_MODELS_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z, a fixed "created" for listings
_CITY_PATTERN = re.compile(r"\bin\s+([^\W\d_][\w-]*)", re.IGNORECASE)
_ARGUMENT_PIECE = 8  # characters of tool-call arguments per streamed delta


@dataclass
class MockConfig:
    """How the mock server behaves. Times are in seconds."""

    latency_s: float = 0.0
    """Wait before the first byte of an answer."""
    per_token_latency_s: float = 0.0
    """Wait between streamed pieces; for a plain answer, this times its output tokens."""
    faults: FaultPlan = field(default_factory=FaultPlan)
    """Which requests get which fault. The app keeps using this object (its script
    position and random state advance) until ``POST /_mock/reset`` replaces it, so two
    apps should not share one plan."""
    hang_s: float = 3600.0
    """How long the ``hang`` fault waits before answering."""
    require_api_key: str | None = field(default=None, repr=False)
    """When set, OpenAI routes need ``Authorization: Bearer <key>`` and Anthropic routes
    ``x-api-key: <key>`` (or the Bearer header, which the anthropic SDK 2.x sends); else
    401. Hidden from repr, like every secret."""
    models: Sequence[str] | None = None
    """Accepted model names; None accepts any name."""
    retry_after_s: float = 1.0
    """The wait a ``rate_limit`` fault asks for (``Retry-After`` rounds it up)."""
    anthropic_overloaded_status: int = 529
    """Status of Anthropic's ``overloaded`` fault: 529 as the real API, or e.g. 503."""
    fault_after_pieces: int | None = None
    """Pieces a damaged stream sends before the fault hits; None means half of them."""
    tool_trigger: str = "weather"
    """Word in the last user message that turns an answer into a tool call."""

    def __post_init__(self) -> None:
        if isinstance(self.models, str):  # one name, not its characters
            self.models = (self.models,)
        for name in ("latency_s", "per_token_latency_s", "hang_s", "retry_after_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")


class MockStats:
    """Counters read through ``GET /_mock/stats``; tests and later issues (idempotency,
    rate limits) assert on them."""

    __slots__ = (
        "by_fault",
        "by_path",
        "by_status",
        "idempotency",
        "input_tokens",
        "output_tokens",
        "requests",
        "succeeded",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.succeeded = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.by_path: Counter[str] = Counter()
        self.by_fault: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.idempotency: dict[str, list[int]] = {}
        """Idempotency-Key value -> [times received, times answered successfully]. It
        grows with every distinct key until a reset; benchmarks that send keys should
        reset between runs."""

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "succeeded": self.succeeded,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "by_path": dict(self.by_path),
            "by_fault": dict(self.by_fault),
            "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
            "idempotency": {
                key: {"received": received, "succeeded": succeeded}
                for key, (received, succeeded) in self.idempotency.items()
            },
        }


@dataclass(slots=True)
class _ToolCall:
    call_id: str
    name: str
    arguments: str

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
    tool: _ToolCall | None
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


def _text_of(content: Any) -> str:
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
                parts.append(_text_of(part["content"]))
    return " ".join(parts)


def _sse(data: str, event: str | None = None) -> bytes:
    if event is None:
        return f"data: {data}\n\n".encode()
    return f"event: {event}\ndata: {data}\n\n".encode()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class _EventStreamResponse(Response):
    """A server-sent-event stream that stops when the client goes away.

    The events are produced while a second task waits on ``receive`` for
    ``http.disconnect``: servers do not fail a send to a closed connection (hypercorn
    drops it silently on trio and logs a warning per write on asyncio), so without the
    watch a stream whose client left would run to its end and count as a success.
    ``MockConnectionCut`` raised by the events (the ``cut_stream`` fault) is re-raised
    bare, not in an exception group, so servers and transports recognise it.
    """

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None], headers: Mapping[str, str]) -> None:
        self.status_code = 200
        self.background = None
        self.events = events
        self.init_headers({**headers, "cache-control": "no-cache"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cut: MockConnectionCut | None = None
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch)
            try:
                await self._send_events(send)
            except MockConnectionCut as exc:
                cut = exc
            group.cancel_scope.cancel()
        if cut is not None:
            raise cut

    async def _send_events(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async with aclosing(self.events) as events:
            async for chunk in events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _CutResponse(Response):
    """Sends the start of a plain answer and then drops the connection.

    No content-length is declared (the body is chunked), so the client sees a body that
    never ends properly rather than a length mismatch.
    """

    def __init__(self, partial_body: bytes, headers: Mapping[str, str]) -> None:
        self.status_code = 200
        self.background = None
        self.partial_body = partial_body
        self.raw_headers = [(b"content-type", b"application/json")] + [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.partial_body, "more_body": True})
        raise MockConnectionCut("mock fault cut_stream: connection dropped mid-body")


class MockApp(Starlette):
    """The mock server app. Build it with :func:`create_app`."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config if config is not None else MockConfig()
        self.faults = self.config.faults
        self.stats = MockStats()
        self.admission_checks: list[AdmissionCheck] = []
        self._models = frozenset(self.config.models) if self.config.models is not None else None
        trigger = self.config.tool_trigger
        self._tool_trigger = re.compile(rf"\b{re.escape(trigger)}\b", re.IGNORECASE)
        self._serials = itertools.count(1)
        self._hangs: set[anyio.CancelScope] = set()
        super().__init__(
            routes=[
                Route("/v1/chat/completions", self._openai_completions, methods=["POST"]),
                Route("/v1/messages", self._anthropic_messages, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/_mock/stats", self._get_stats, methods=["GET"]),
                Route("/_mock/reset", self._reset, methods=["POST"]),
            ]
        )

    # -- control -------------------------------------------------------------------------

    def abort_hangs(self) -> None:
        """End every ``hang`` in progress (they answer 503), so a server can shut down at
        once instead of waiting for them."""
        for scope in list(self._hangs):
            scope.cancel()

    def reset(self, faults: FaultPlan | None = None) -> None:
        """Zero the stats and restart the fault plan (or replace it)."""
        self.stats.reset()
        if faults is not None:
            self.faults = faults
        else:
            self.faults.reset()

    async def _get_stats(self, request: Request) -> Response:
        return Response(_dumps(self.stats.snapshot()), media_type="application/json")

    async def _reset(self, request: Request) -> Response:
        """``POST /_mock/reset`` with an optional JSON body ``{"rates": {...}, "script":
        [...], "seed": 0}`` that replaces the fault plan; without one the plan restarts."""
        raw = await request.body()
        plan: FaultPlan | None = None
        if raw.strip():
            try:
                spec = json.loads(raw)
                if not isinstance(spec, dict):
                    raise ValueError("expected a JSON object")
                plan = FaultPlan(
                    rates=spec.get("rates"),
                    script=spec.get("script") or (),
                    seed=int(spec.get("seed", 0)),
                )
            except (ValueError, TypeError) as exc:
                return Response(_dumps({"error": str(exc)}), 400, media_type="application/json")
        self.reset(plan)
        return Response(_dumps({"ok": True}), media_type="application/json")

    # -- routes --------------------------------------------------------------------------

    async def _openai_completions(self, request: Request) -> Response:
        return await self._complete(request, "openai")

    async def _anthropic_messages(self, request: Request) -> Response:
        return await self._complete(request, "anthropic")

    async def _list_models(self, request: Request) -> Response:
        self.stats.requests += 1
        self.stats.by_path[request.url.path] += 1
        headers = request.headers
        provider: Provider = (
            "anthropic" if "anthropic-version" in headers or "x-api-key" in headers else "openai"
        )
        serial = next(self._serials)
        denied = self._check_auth(headers, provider, self._request_id(serial))
        if denied is not None:
            return self._error(denied, provider, serial)
        names = sorted(self._models) if self._models is not None else DEFAULT_MODELS
        body: dict[str, Any]
        if provider == "openai":
            data = [
                {"id": n, "object": "model", "created": _MODELS_CREATED, "owned_by": "sluicegate"}
                for n in names
            ]
            body = {"object": "list", "data": data}
        else:
            data = [
                {
                    "type": "model",
                    "id": n,
                    "display_name": f"Mock {n}",
                    "created_at": "2025-01-01T00:00:00Z",
                }
                for n in names
            ]
            body = {
                "data": data,
                "has_more": False,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        self.stats.by_status[200] += 1
        return Response(_dumps(body), media_type="application/json")

    # -- the completion pipeline ---------------------------------------------------------

    async def _complete(self, request: Request, provider: Provider) -> Response:
        stats = self.stats
        stats.requests += 1
        stats.by_path[request.url.path] += 1
        headers = request.headers
        idempotency_key = headers.get("idempotency-key")
        if idempotency_key is not None:
            stats.idempotency.setdefault(idempotency_key, [0, 0])[0] += 1
        serial = next(self._serials)
        request_id = self._request_id(serial)

        denied = self._check_auth(headers, provider, request_id)
        if denied is not None:
            return self._error(denied, provider, serial)
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._invalid(provider, request_id, serial, "The body is not a JSON object.")

        try:
            fault = self.faults.next(headers.get(FAULT_HEADER))
        except ValueError as exc:
            return self._invalid(provider, request_id, serial, str(exc), param=FAULT_HEADER)
        if fault is not None:
            stats.by_fault[fault] += 1
            if fault in STATUS_FAULTS:
                return self._error(self._fault_reply(fault, provider, request_id), provider, serial)

        parse = self._parse_openai if provider == "openai" else self._parse_anthropic
        job = parse(body, serial, request_id, idempotency_key)
        if isinstance(job, ErrorReply):
            return self._error(job, provider, serial)
        for check in self.admission_checks:
            refused = check(job)
            if refused is not None:
                return self._error(refused, provider, serial)
        if fault == "stream_error" and not job.stream:
            return self._error(self._fault_reply(fault, provider, request_id), provider, serial)

        if fault == "hang":
            outcome = await self._hang(request.receive)
            if outcome == "disconnected":
                stats.by_status[499] += 1
                return Response(status_code=499)  # nginx's "client closed request"
            if outcome == "aborted":
                reply = provider_error(
                    provider,
                    503,
                    "api_error" if provider == "anthropic" else "server_error",
                    "The mock server is shutting down.",
                    request_id=request_id,
                )
                return self._error(reply, provider, serial)
        config = self.config
        if config.latency_s > 0:
            await anyio.sleep(config.latency_s)

        if job.stream:
            stats.by_status[200] += 1
            events = (
                self._openai_events(job, fault)
                if provider == "openai"
                else self._anthropic_events(job, fault)
            )
            return _EventStreamResponse(
                events, headers=self._response_headers(provider, request_id)
            )

        if config.per_token_latency_s > 0:
            await anyio.sleep(config.per_token_latency_s * job.output_tokens)
        rendered = (
            self._openai_body(job) if provider == "openai" else self._anthropic_body(job)
        ).encode()
        response_headers = self._response_headers(provider, request_id)
        stats.by_status[200] += 1
        if fault == "cut_stream":
            return _CutResponse(rendered[: len(rendered) // 2], response_headers)
        if fault == "malformed":
            return Response(
                rendered[: len(rendered) // 2],
                headers=response_headers,
                media_type="application/json",
            )
        self._succeeded(job)
        return Response(rendered, headers=response_headers, media_type="application/json")

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _request_id(serial: int) -> str:
        return f"req_mock{serial:016x}"

    @staticmethod
    def _response_headers(provider: Provider, request_id: str) -> dict[str, str]:
        if provider == "openai":
            return {"x-request-id": request_id}
        return {"request-id": request_id}

    def _error(self, reply: ErrorReply, provider: Provider, serial: int) -> Response:
        self.stats.by_status[reply.status] += 1
        headers = {**self._response_headers(provider, self._request_id(serial)), **reply.headers}
        return Response(reply.body, reply.status, headers=headers, media_type="application/json")

    def _fault_reply(self, fault: FaultKind, provider: Provider, request_id: str) -> ErrorReply:
        return fault_reply(
            fault,
            provider,
            retry_after_s=self.config.retry_after_s,
            anthropic_overloaded_status=self.config.anthropic_overloaded_status,
            request_id=request_id,
        )

    def _invalid(
        self,
        provider: Provider,
        request_id: str,
        serial: int,
        message: str,
        *,
        param: str | None = None,
    ) -> Response:
        reply = provider_error(
            provider, 400, "invalid_request_error", message, param=param, request_id=request_id
        )
        return self._error(reply, provider, serial)

    def _check_auth(
        self, headers: Headers, provider: Provider, request_id: str
    ) -> ErrorReply | None:
        key = self.config.require_api_key
        if key is None:
            return None
        bearer = headers.get("authorization")
        if _same_secret(bearer, f"Bearer {key}"):
            return None
        # The API documents x-api-key; the anthropic SDK 2.x sends the key as a Bearer
        # token instead, so Anthropic routes accept both.
        if provider == "anthropic" and _same_secret(headers.get("x-api-key"), key):
            return None
        # The presented and expected keys are never echoed: error bodies end up in logs.
        if provider == "openai":
            message = (
                "You didn't provide an API key (mock)."
                if bearer is None
                else "Incorrect API key provided (mock)."
            )
            return provider_error(
                provider, 401, "invalid_request_error", message, code="invalid_api_key"
            )
        return provider_error(
            provider,
            401,
            "authentication_error",
            "invalid x-api-key (mock).",
            request_id=request_id,
        )

    def _model_error(self, provider: Provider, model: str, request_id: str) -> ErrorReply:
        if provider == "openai":
            return provider_error(
                provider,
                404,
                "invalid_request_error",
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        return provider_error(
            provider, 404, "not_found_error", f"model: {model}", request_id=request_id
        )

    def _succeeded(self, job: MockJob) -> None:
        stats = self.stats
        stats.succeeded += 1
        stats.input_tokens += job.input_tokens
        stats.output_tokens += job.output_tokens
        if job.idempotency_key is not None:
            stats.idempotency.setdefault(job.idempotency_key, [0, 0])[1] += 1

    async def _hang(self, receive: Receive) -> Literal["elapsed", "disconnected", "aborted"]:
        """Wait ``hang_s``, ending early if the client disconnects or :meth:`abort_hangs`
        is called, so hung handlers do not pile up after their clients gave up."""
        disconnected = False
        with anyio.CancelScope() as scope:
            self._hangs.add(scope)
            try:
                async with anyio.create_task_group() as group:

                    async def watch() -> None:
                        nonlocal disconnected
                        while (await receive())["type"] != "http.disconnect":
                            pass
                        disconnected = True
                        group.cancel_scope.cancel()

                    group.start_soon(watch)
                    await anyio.sleep(self.config.hang_s)
                    group.cancel_scope.cancel()
            finally:
                self._hangs.discard(scope)
        if disconnected:
            return "disconnected"
        return "aborted" if scope.cancelled_caught else "elapsed"

    # -- request parsing -----------------------------------------------------------------

    def _bad(
        self, provider: Provider, message: str, param: str | None, request_id: str
    ) -> ErrorReply:
        return provider_error(
            provider, 400, "invalid_request_error", message, param=param, request_id=request_id
        )

    @staticmethod
    def _max_tokens(value: Any) -> int | str | None:
        """The value, None when absent, or a str saying what is wrong."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return "must be an integer >= 1"
        return value

    def _city(self, prompt: str) -> str:
        match = _CITY_PATTERN.search(prompt)
        return match.group(1).capitalize() if match else "Paris"

    def _parse_openai(
        self, body: dict[str, Any], serial: int, request_id: str, idempotency_key: str | None
    ) -> MockJob | ErrorReply:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._bad("openai", "you must provide a model parameter", "model", request_id)
        if self._models is not None and model not in self._models:
            return self._model_error("openai", model, request_id)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._bad("openai", "messages must be a non-empty array", "messages", request_id)
        texts: list[str] = []
        prompt = ""
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                return self._bad(
                    "openai", "each message must be an object with a role", "messages", request_id
                )
            text = _text_of(message.get("content"))
            texts.append(text)
            if message["role"] == "user":
                prompt = text
        raw_max = body.get("max_completion_tokens")
        param = "max_completion_tokens"
        if raw_max is None:
            raw_max, param = body.get("max_tokens"), "max_tokens"
        max_tokens = self._max_tokens(raw_max)
        if isinstance(max_tokens, str):
            return self._bad("openai", f"{param} {max_tokens}", param, request_id)
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = (
            stream and isinstance(options, dict) and options.get("include_usage") is True
        )

        tool: _ToolCall | None = None
        tools = body.get("tools")
        if (
            isinstance(tools, list)
            and tools
            and body.get("tool_choice") != "none"
            and messages[-1]["role"] == "user"
            and self._tool_trigger.search(prompt)
        ):
            names = [
                t["function"]["name"]
                for t in tools
                if isinstance(t, dict)
                and t.get("type", "function") == "function"
                and isinstance(t.get("function"), dict)
                and isinstance(t["function"].get("name"), str)
            ]
            if names:
                tool = _ToolCall(
                    call_id=f"call_mock{serial:016x}",
                    name=self._pick_tool(names),
                    arguments=_dumps({"location": self._city(prompt)}),
                )
        return MockJob(
            provider="openai",
            model=model,
            stream=stream,
            include_usage=include_usage,
            input_tokens=count_input_tokens(texts),
            max_tokens=max_tokens,
            answer=generate_answer(prompt, max_tokens, model),
            tool=tool,
            request_id=request_id,
            serial=serial,
            idempotency_key=idempotency_key,
        )

    def _pick_tool(self, names: list[str]) -> str:
        for name in names:
            if self.config.tool_trigger.lower() in name.lower():
                return name
        return names[0]

    def _parse_anthropic(
        self, body: dict[str, Any], serial: int, request_id: str, idempotency_key: str | None
    ) -> MockJob | ErrorReply:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._bad("anthropic", "model: Field required", "model", request_id)
        if "max_tokens" not in body:
            return self._bad("anthropic", "max_tokens: Field required", "max_tokens", request_id)
        max_tokens = self._max_tokens(body["max_tokens"])
        if not isinstance(max_tokens, int):
            return self._bad(
                "anthropic", "max_tokens: must be an integer >= 1", "max_tokens", request_id
            )
        if self._models is not None and model not in self._models:
            return self._model_error("anthropic", model, request_id)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._bad("anthropic", "messages: Field required", "messages", request_id)
        texts: list[str] = []
        system = body.get("system")
        if system is not None:
            texts.append(_text_of(system))
        prompt = ""
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return self._bad(
                    "anthropic",
                    "messages: each message needs a role of user or assistant",
                    "messages",
                    request_id,
                )
            text = _text_of(message.get("content"))
            texts.append(text)
            if message["role"] == "user":
                prompt = text
        stream = body.get("stream") is True

        tool: _ToolCall | None = None
        tools = body.get("tools")
        last = messages[-1]
        choice = body.get("tool_choice")
        if (
            isinstance(tools, list)
            and tools
            and not (isinstance(choice, dict) and choice.get("type") == "none")
            and last["role"] == "user"
            and not _has_tool_result(last.get("content"))
            and self._tool_trigger.search(prompt)
        ):
            names = [
                t["name"]
                for t in tools
                if isinstance(t, dict) and "input_schema" in t and isinstance(t.get("name"), str)
            ]
            if names:
                tool = _ToolCall(
                    call_id=f"toolu_mock{serial:016x}",
                    name=self._pick_tool(names),
                    arguments=_dumps({"location": self._city(prompt)}),
                )
        return MockJob(
            provider="anthropic",
            model=model,
            stream=stream,
            include_usage=True,
            input_tokens=count_input_tokens(texts),
            max_tokens=max_tokens,
            answer=generate_answer(prompt, max_tokens, model),
            tool=tool,
            request_id=request_id,
            serial=serial,
            idempotency_key=idempotency_key,
        )

    # -- OpenAI wire format --------------------------------------------------------------

    @staticmethod
    def _openai_usage(job: MockJob) -> dict[str, Any]:
        output = job.output_tokens
        return {
            "prompt_tokens": job.input_tokens,
            "completion_tokens": output,
            "total_tokens": job.input_tokens + output,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _openai_body(self, job: MockJob) -> str:
        message: dict[str, Any]
        if job.tool is not None:
            message = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": job.tool.call_id,
                        "type": "function",
                        "function": {"name": job.tool.name, "arguments": job.tool.arguments},
                    }
                ],
            }
            finish_reason = "tool_calls"
        else:
            message = {
                "role": "assistant",
                "content": job.answer.text,
                "refusal": None,
                "annotations": [],
            }
            finish_reason = job.answer.finish_reason
        return _dumps(
            {
                "id": f"chatcmpl-mock{job.serial:016x}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": job.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": self._openai_usage(job),
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        )

    async def _openai_events(
        self, job: MockJob, fault: FaultKind | None
    ) -> AsyncGenerator[bytes, None]:
        # Every chunk shares its head and differs only in the delta, so the JSON is built
        # once as a prefix and a suffix around each delta.
        head = _dumps(
            {
                "id": f"chatcmpl-mock{job.serial:016x}",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": job.model,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        )
        prefix = "data: " + head[:-1] + ',"choices":[{"index":0,"delta":'
        usage_null = ',"usage":null' if job.include_usage else ""
        suffix = ',"logprobs":null,"finish_reason":null}]' + usage_null + "}\n\n"
        tool = job.tool
        if tool is not None:
            call = {
                "index": 0,
                "id": tool.call_id,
                "type": "function",
                "function": {"name": tool.name, "arguments": ""},
            }
            first: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [call],
            }
            finish_reason = "tool_calls"
        else:
            first = {"role": "assistant", "content": "", "refusal": None}
            finish_reason = job.answer.finish_reason
        yield (prefix + _dumps(first) + suffix).encode()

        pieces = job.pieces
        fault_at = self._fault_position(len(pieces), fault)
        delay = self.config.per_token_latency_s
        for i in range(len(pieces) + 1):
            if i == fault_at:
                if fault == "cut_stream":
                    raise MockConnectionCut("mock fault cut_stream: stream dropped")
                if fault == "stream_error":
                    error = {
                        "message": "The server is overloaded mid-stream (mock).",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                    yield _sse(_dumps({"error": error}))
                    return
                if fault == "malformed":
                    yield (prefix + '{"content": <not json>' + "\n\n").encode()
            if i == len(pieces):
                break
            if delay > 0:
                await anyio.sleep(delay)
            piece = _dumps(pieces[i])
            if tool is not None:
                delta = '{"tool_calls":[{"index":0,"function":{"arguments":' + piece + "}}]}"
            else:
                delta = '{"content":' + piece + "}"
            yield (prefix + delta + suffix).encode()

        final = ',"logprobs":null,"finish_reason":"' + finish_reason + '"}]' + usage_null + "}\n\n"
        yield (prefix + "{}" + final).encode()
        if job.include_usage:
            usage = _dumps(self._openai_usage(job))
            yield ("data: " + head[:-1] + ',"choices":[],"usage":' + usage + "}\n\n").encode()
        yield b"data: [DONE]\n\n"
        if fault_at < 0:  # a damaged stream is not an answer, even if it ends normally
            self._succeeded(job)

    def _fault_position(self, n_pieces: int, fault: FaultKind | None) -> int:
        """Index of the piece before which a stream fault strikes (-1: no fault)."""
        if fault not in ("cut_stream", "stream_error", "malformed"):
            return -1
        after = self.config.fault_after_pieces
        return min(after if after is not None else n_pieces // 2, n_pieces)

    # -- Anthropic wire format -----------------------------------------------------------

    @staticmethod
    def _stop_reason(job: MockJob) -> str:
        if job.tool is not None:
            return "tool_use"
        return "max_tokens" if job.answer.finish_reason == "length" else "end_turn"

    def _anthropic_body(self, job: MockJob) -> str:
        if job.tool is not None:
            content: list[dict[str, Any]] = [
                {
                    "type": "tool_use",
                    "id": job.tool.call_id,
                    "name": job.tool.name,
                    "input": json.loads(job.tool.arguments),
                }
            ]
        else:
            content = [{"type": "text", "text": job.answer.text}]
        return _dumps(
            {
                "id": f"msg_mock{job.serial:016x}",
                "type": "message",
                "role": "assistant",
                "model": job.model,
                "content": content,
                "stop_reason": self._stop_reason(job),
                "stop_sequence": None,
                "usage": {
                    "input_tokens": job.input_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": job.output_tokens,
                },
            }
        )

    async def _anthropic_events(
        self, job: MockJob, fault: FaultKind | None
    ) -> AsyncGenerator[bytes, None]:
        message: dict[str, Any] = {
            "id": f"msg_mock{job.serial:016x}",
            "type": "message",
            "role": "assistant",
            "model": job.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": job.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        }
        yield _sse(_dumps({"type": "message_start", "message": message}), "message_start")
        tool = job.tool
        block: dict[str, Any]
        if tool is not None:
            block = {"type": "tool_use", "id": tool.call_id, "name": tool.name, "input": {}}
            delta_head = (
                'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                '"delta":{"type":"input_json_delta","partial_json":'
            )
        else:
            block = {"type": "text", "text": ""}
            delta_head = (
                'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                '"delta":{"type":"text_delta","text":'
            )
        start = {"type": "content_block_start", "index": 0, "content_block": block}
        yield _sse(_dumps(start), "content_block_start")
        yield b'event: ping\ndata: {"type":"ping"}\n\n'

        pieces = job.pieces
        fault_at = self._fault_position(len(pieces), fault)
        delay = self.config.per_token_latency_s
        for i in range(len(pieces) + 1):
            if i == fault_at:
                if fault == "cut_stream":
                    raise MockConnectionCut("mock fault cut_stream: stream dropped")
                if fault == "stream_error":
                    error = {
                        "type": "error",
                        "error": {"type": "overloaded_error", "message": "Overloaded (mock)."},
                        "request_id": job.request_id,
                    }
                    yield _sse(_dumps(error), "error")
                    return
                if fault == "malformed":
                    yield (delta_head + "<not json>\n\n").encode()
            if i == len(pieces):
                break
            if delay > 0:
                await anyio.sleep(delay)
            yield (delta_head + _dumps(pieces[i]) + "}}\n\n").encode()

        yield b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        message_delta = {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop_reason(job), "stop_sequence": None},
            "usage": {"output_tokens": job.output_tokens},
        }
        yield _sse(_dumps(message_delta), "message_delta")
        yield b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        if fault_at < 0:  # a damaged stream is not an answer, even if it ends normally
            self._succeeded(job)


def _same_secret(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def _has_tool_result(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") == "tool_result" for part in content
    )


def create_app(config: MockConfig | None = None) -> MockApp:
    """A new mock server app (an ASGI callable) with its own stats and fault state."""
    return MockApp(config)
