"""A transport that answers from a script, for tests that need exact HTTP answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sluicegate.transports.base import HttpRequest, HttpResponse, TransportFailure


@dataclass
class Answer:
    """One scripted answer: a status, headers and body chunks, optionally cut afterwards."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    cut: bool = False

    @classmethod
    def json(cls, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
        return cls(
            status,
            {"content-type": "application/json", **(headers or {})},
            [json.dumps(body).encode()],
        )


class _Stream:
    def __init__(self, answer: Answer) -> None:
        self.status = answer.status
        self.headers = answer.headers
        self._answer = answer
        self.closed = False

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._answer.chunks:
            yield chunk
        if self._answer.cut:
            raise TransportFailure("read", "cut by script")

    async def read(self) -> bytes:
        return b"".join(self._answer.chunks)

    async def aclose(self) -> None:
        self.closed = True


class ScriptedTransport:
    """Answers each request with the next scripted Answer (or a callable of the request)."""

    name = "scripted"

    def __init__(self, *answers: Answer | Callable[[HttpRequest], Answer] | BaseException) -> None:
        self.answers = list(answers)
        self.requests: list[HttpRequest] = []
        self.streams: list[_Stream] = []
        self.closed = False

    def _next(self, request: HttpRequest) -> Answer:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer(request) if callable(answer) else answer

    async def send(self, request: HttpRequest) -> HttpResponse:
        answer = self._next(request)
        if answer.cut:
            raise TransportFailure("read", "cut by script")
        return HttpResponse(answer.status, answer.headers, b"".join(answer.chunks))

    async def open_stream(self, request: HttpRequest) -> _Stream:
        stream = _Stream(self._next(request))
        self.streams.append(stream)
        return stream

    async def aclose(self) -> None:
        self.closed = True


def openai_completion(
    text: str = "hi", prompt_tokens: int = 3, completion_tokens: int = 1
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


def openai_sse(
    texts: list[str], *, usage: tuple[int, int] = (3, 2), done: bool = True
) -> list[bytes]:
    chunks = [
        b"data: "
        + json.dumps({"choices": [{"index": 0, "delta": {"content": t}}]}).encode()
        + b"\n\n"
        for t in texts
    ]
    chunks.append(
        b"data: "
        + json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}).encode()
        + b"\n\n"
    )
    chunks.append(
        b"data: "
        + json.dumps(
            {"choices": [], "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}}
        ).encode()
        + b"\n\n"
    )
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return chunks
