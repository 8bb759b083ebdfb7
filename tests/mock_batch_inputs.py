"""Inputs and clients shared by the mock batch API tests (tests/testing/test_mock_batch_*)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai

ENDPOINT = "/v1/chat/completions"


def prompt(i: int) -> str:
    return f"Summarise review {i}: the parcel came late but the lamp works."


def chat_body(i: int, model: str = "fast", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt(i)}], **extra}


def openai_line(custom_id: str, body: dict[str, Any], url: str = ENDPOINT) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


def openai_jsonl(n: int, model: str = "fast", prefix: str = "row") -> bytes:
    """``n`` valid request lines ``row-0``, ``row-1``..., newline-terminated."""
    lines = [openai_line(f"{prefix}-{i}", chat_body(i, model)) for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def anthropic_requests(n: int, model: str = "fast", prefix: str = "row") -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"{prefix}-{i}",
            "params": {
                "model": model,
                "max_tokens": 200,
                "messages": [{"role": "user", "content": prompt(i)}],
            },
        }
        for i in range(n)
    ]


def jsonl_objects(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def openai_client(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-test", base_url=base_url, max_retries=0, timeout=30)


def anthropic_client(base_url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="sk-ant-test", base_url=base_url, max_retries=0, timeout=30
    )
