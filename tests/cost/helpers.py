"""A transport that answers each request with the usage its prompt asks for, and counts
what it received: the peer for cost, ledger and budget tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel

from sluicegate import Client, ProviderSettings
from sluicegate.transports.base import HttpRequest, HttpResponse

KEY = "sk-cost-0123456789abcdefghijklmn"
BASE_URL = "http://127.0.0.1:9/v1"


@dataclass(frozen=True)
class Ask:
    """What the transport answers: usage, and how many scheduler turns to wait first (so
    concurrent requests finish in a shuffled order)."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    turns: int = 0
    text: str = "ok"

    def prompt(self, label: str = "") -> str:
        return json.dumps(
            {
                "label": label,
                "i": self.input_tokens,
                "o": self.output_tokens,
                "c": self.cached_tokens,
                "t": self.turns,
                "x": self.text,
            }
        )


def _usage(ask: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "prompt_tokens": ask["i"],
        "completion_tokens": ask["o"],
        "total_tokens": ask["i"] + ask["o"],
        "prompt_tokens_details": {"cached_tokens": ask["c"]},
    }


def _sse(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


class _Stream:
    def __init__(self, chunks: list[bytes], turns: int) -> None:
        self.status = 200
        self.headers = {"content-type": "text/event-stream"}
        self._chunks = chunks
        self._turns = turns

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            for _ in range(self._turns):
                await anyio.lowlevel.checkpoint()
            yield chunk

    async def read(self) -> bytes:
        return b"".join(self._chunks)

    async def aclose(self) -> None:
        return None


class UsageTransport:
    """Answers an OpenAI chat request with the usage written in its last message (an
    :class:`Ask` as JSON), and records every prompt it received, in order."""

    name = "usage"

    def __init__(self, fail_models: frozenset[str] = frozenset()) -> None:
        self.received: list[str] = []
        self.fail_models = fail_models
        """Models (as the provider names them) answered with a retryable 503."""

    def _ask(self, request: HttpRequest) -> dict[str, Any]:
        body = json.loads(request.body)
        prompt = body["messages"][-1]["content"]
        self.received.append(prompt)
        ask: dict[str, Any] = json.loads(prompt)
        return ask

    async def send(self, request: HttpRequest) -> HttpResponse:
        ask = self._ask(request)
        if json.loads(request.body)["model"] in self.fail_models:
            error = {"error": {"message": "overloaded", "type": "server_error"}}
            return HttpResponse(
                503, {"content-type": "application/json"}, json.dumps(error).encode()
            )
        for _ in range(ask["t"]):
            await anyio.lowlevel.checkpoint()
        body = {
            "id": "chatcmpl-cost",
            "object": "chat.completion",
            "model": json.loads(request.body)["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ask["x"]},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(ask),
        }
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())

    async def open_stream(self, request: HttpRequest) -> _Stream:
        ask = self._ask(request)
        chunks = [
            _sse({"choices": [{"index": 0, "delta": {"content": ask["x"]}}]}),
            _sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            _sse({"choices": [], "usage": _usage(ask)}),
            b"data: [DONE]\n\n",
        ]
        return _Stream(chunks, ask["t"])

    async def aclose(self) -> None:
        return None


def usage_client(transport: Any, **kwargs: Any) -> Client:
    """A client on ``transport`` with one attempt per request (no retries to count) and
    the providers ``openai`` plus an OpenAI-compatible ``vllm``."""
    stage_settings = {"retry": False, **kwargs.pop("stage_settings", {})}
    return Client(
        providers={
            "openai": ProviderSettings(api_key=KEY, base_url=BASE_URL),
            "vllm": ProviderSettings(kind="openai", api_key=KEY, base_url=BASE_URL),
        },
        transport=transport,
        load_entry_points=False,
        stage_settings=stage_settings,
        **kwargs,
    )
