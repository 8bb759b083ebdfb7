"""A scripted transport that answers each request with the usage its prompt asks for, and
counts what it received: the peer for cost, ledger and budget tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sluicegate import Client, ProviderSettings
from sluicegate.testing import Answer, ScriptedTransport
from sluicegate.transports.base import HttpRequest

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


class UsageTransport(ScriptedTransport):
    """Answers an OpenAI chat request with the usage written in its last message (an
    :class:`Ask` as JSON), and records every prompt it received, in order."""

    name = "usage"

    def __init__(self, fail_models: frozenset[str] = frozenset()) -> None:
        super().__init__(self._usage_answer)
        self.received: list[str] = []
        self.fail_models = fail_models
        """Models (as the provider names them) answered with a retryable 503."""

    def _usage_answer(self, request: HttpRequest) -> Answer:
        body = json.loads(request.body)
        prompt = body["messages"][-1]["content"]
        self.received.append(prompt)
        ask: dict[str, Any] = json.loads(prompt)
        if body.get("stream"):
            chunks = [
                _sse({"choices": [{"index": 0, "delta": {"content": ask["x"]}}]}),
                _sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                _sse({"choices": [], "usage": _usage(ask)}),
                b"data: [DONE]\n\n",
            ]
            return Answer(200, {"content-type": "text/event-stream"}, chunks, turns=ask["t"])
        if body["model"] in self.fail_models:
            return Answer.json(503, {"error": {"message": "overloaded", "type": "server_error"}})
        completion = {
            "id": "chatcmpl-cost",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ask["x"]},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(ask),
        }
        return replace(Answer.json(200, completion), turns=ask["t"])


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
