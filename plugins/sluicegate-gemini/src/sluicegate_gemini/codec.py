"""The Gemini API codec: ``POST {base_url}/models/{model}:generateContent``, and
``:streamGenerateContent?alt=sse`` for a stream.

The base URL includes the API version (``https://generativelanguage.googleapis.com/v1beta``),
the model is in the path, and the key goes in ``x-goog-api-key`` (the spec's credential
header; the dispatcher writes it). Like every sluicegate provider the codec does no I/O.

Errors: the body's ``error.status`` (``RESOURCE_EXHAUSTED``, ``UNAVAILABLE``...) is the
error type; Gemini sends no ``Retry-After`` or rate-limit headers, its wait is in the body
(``RetryInfo.retryDelay``), which becomes the error's ``retry_after`` when no header gave
one, so retry and the rate limiter hold the model as long as the API asked. A 429 for a
per-day quota (``QuotaFailure`` naming a ``...PerDay...`` quota) is not retryable: no
backoff of seconds brings it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sluicegate import (
    AuthenticationError,
    ProviderError,
    Request,
    Response,
    ResponseFormatError,
    ToolCall,
)
from sluicegate.plugins import (
    UNEXPECTED_SHAPE,
    HttpRequest,
    HttpResponse,
    MalformedField,
    array,
    describe,
    error_for_status,
    excerpt,
    malformed_answer,
    mapping,
    parse_json,
    text,
)
from sluicegate_gemini.request import encode_body
from sluicegate_gemini.stream import GeminiStreamDecoder
from sluicegate_gemini.wire import (
    BLOCKING_REASONS,
    KEY_REASONS,
    blocked,
    blocked_categories,
    blocked_prompt,
    error_details,
    finish_reason,
    usage_from,
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Candidate:
    """What one response (or stream chunk) says of its first candidate."""

    __slots__ = ("calls", "finish", "ratings", "texts")

    def __init__(self, data: dict[str, Any], first_call: int = 0) -> None:
        self.texts: list[str] = []
        self.calls: list[ToolCall] = []
        self.finish: str | None = None
        self.ratings: tuple[str, ...] = ()
        candidates = array(data.get("candidates"), "candidates")
        if not candidates:
            return
        candidate = mapping(candidates[0], "candidates[0]")
        if candidate is None:
            raise MalformedField("candidates[0]", f"expected an object, got {describe(None)}")
        self.finish = text(candidate.get("finishReason"), "candidates[0].finishReason")
        if self.finish in BLOCKING_REASONS:
            self.ratings = blocked_categories(candidate, "candidates[0]")
        content = mapping(candidate.get("content"), "candidates[0].content") or {}
        for i, part in enumerate(array(content.get("parts"), "candidates[0].content.parts") or ()):
            where = f"candidates[0].content.parts[{i}]"
            if type(part) is not dict:
                raise MalformedField(where, f"expected an object, got {describe(part)}")
            if part.get("thought") is True:
                continue  # a thought summary: not answer text (kept in ``raw``)
            if "text" in part:
                value = text(part["text"], f"{where}.text")
                if value:
                    self.texts.append(value)
            elif "functionCall" in part:
                self.calls.append(
                    _call(
                        part["functionCall"], f"{where}.functionCall", first_call + len(self.calls)
                    )
                )


def _call(value: object, where: str, number: int) -> ToolCall:
    call = mapping(value, where)
    if not call:
        raise MalformedField(where, f"expected an object, got {describe(value)}")
    name = text(call.get("name"), f"{where}.name")
    if not name:
        raise MalformedField(f"{where}.name", "missing")
    args = call.get("args", {})
    if type(args) is not dict:
        raise MalformedField(f"{where}.args", f"expected an object, got {describe(args)}")
    # Gemini's calls carry an id on newer models only; else one is made, stable for the
    # answer (the call's position), so a tool result can name the call it answers.
    call_id = text(call.get("id"), f"{where}.id") or f"call_{number}"
    return ToolCall(id=call_id, name=name, arguments=_dumps(args))


class GeminiProvider:
    """Codec for the Gemini API's ``generateContent``.

    Headers: ``content-type``, then those configured in ``ProviderSettings(headers=...)``.
    The dispatcher adds the key as ``x-goog-api-key`` (only when the request carries one),
    ``idempotency-key`` and the request's own ``metadata.headers``.
    """

    def __init__(self, base_url: str, headers: Mapping[str, str], *, name: str = "gemini") -> None:
        self.name = name
        self._base = base_url.rstrip("/") + "/models/"
        self._headers: dict[str, str] = {
            "content-type": "application/json",
            **{k.lower(): v for k, v in headers.items()},
        }
        self._stream_headers = {**self._headers, "accept": "text/event-stream"}

    def __repr__(self) -> str:
        return f"GeminiProvider(name={self.name!r}, base={self._base!r})"

    def encode(self, request: Request) -> HttpRequest:
        body = _dumps(encode_body(request)).encode()
        model = request.model_name
        if request.stream:
            url = f"{self._base}{model}:streamGenerateContent?alt=sse"
            return HttpRequest("POST", url, self._stream_headers, body)
        return HttpRequest("POST", f"{self._base}{model}:generateContent", self._headers, body)

    def decode(self, request: Request, response: HttpResponse) -> Response:
        try:
            data = parse_json(response.body, "body")
            if type(data) is not dict:
                raise MalformedField("body", f"expected an object, got {describe(data)}")
            refused = blocked_prompt(data, self.name, request.model_name)
            if refused is not None:
                raise refused
            candidate = Candidate(data)
            answer = "".join(candidate.texts)
            if candidate.finish in BLOCKING_REASONS and not answer and not candidate.calls:
                raise blocked(
                    self.name,
                    request.model_name,
                    candidate.finish or "",
                    candidate.ratings,
                    "the answer was stopped by a content filter",
                )
            return Response(
                text=answer,
                model=request.model,
                provider=self.name,
                tool_calls=tuple(candidate.calls),
                finish_reason=finish_reason(candidate.finish, bool(candidate.calls)),
                usage=usage_from(data.get("usageMetadata")),
                request_id=request.metadata.request_id,
                raw=data,
            )
        except MalformedField as exc:
            raise self._malformed(request, response, str(exc)) from None
        except UNEXPECTED_SHAPE as exc:
            raise self._malformed(request, response, f"{type(exc).__name__}: {exc}") from None

    def _malformed(
        self, request: Request, response: HttpResponse, problem: str
    ) -> ResponseFormatError:
        return malformed_answer(
            provider=self.name,
            model=request.model_name,
            what="generateContent response",
            problem=problem,
            body=response.body,
            status=response.status,
        )

    def decode_error(self, request: Request, response: HttpResponse) -> ProviderError:
        try:
            body: Any = parse_json(response.body, "body")
        except MalformedField:
            body = None
        details = error_details(body)
        message = details.message or excerpt(response.body)
        if KEY_REASONS.intersection(details.reasons):
            return AuthenticationError(
                message,
                provider=self.name,
                model=request.model_name,
                status=response.status,
                error_type=details.status,
                retryable=False,
            )
        error = error_for_status(
            provider=self.name,
            model=request.model_name,
            status=response.status,
            headers=response.headers,
            message=message,
            error_type=details.status,
        )
        if error.retry_after is None and details.wait is not None:
            error.retry_after = details.wait
        if details.daily:
            error.retryable = False
        return error

    def stream_decoder(self, request: Request) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(self.name, request.model_name)
