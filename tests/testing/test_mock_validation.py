"""Malformed completion requests get the 400 the real APIs answer, as the official SDKs see
it: BadRequestError, with the field named (OpenAI's ``param``, Anthropic's message)."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import openai
import pytest

from sluicegate.testing import create_app, serve_mock

pytestmark = pytest.mark.anyio

USER = {"role": "user", "content": "Hello"}

# (messages, param, message) as OpenAI answers them
OPENAI_CASES: list[tuple[Any, str, str]] = [
    ([], "messages", "Invalid 'messages': empty array."),
    ("hi", "messages", "Invalid type for 'messages': expected an array of objects"),
    (["hi"], "messages[0]", "Invalid type for 'messages[0]': expected an object, but got a string"),
    (
        [USER, {"role": "assistant", "content": "Hi"}, {"role": "robot", "content": "beep"}],
        "messages[2].role",
        "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', "
        "'function', 'tool', and 'developer'.",
    ),
    ([{"content": "x"}], "messages[0].role", "Missing required parameter: 'messages[0].role'."),
    (
        [{"role": "user", "content": 42}],
        "messages[0].content",
        "Invalid type for 'messages[0].content': expected one of a string or array of "
        "objects, but got an integer instead.",
    ),
    (
        [{"role": "user", "content": {"type": "text", "text": "x"}}],
        "messages[0].content",
        "but got an object instead",
    ),
    (
        [USER, {"role": "assistant", "content": None}],
        "messages[1].content",
        "Invalid value for 'content': expected a string, got null.",
    ),
    ([{"role": "user"}], "messages[0].content", "Missing required parameter"),
]

# (body changes, text the message must contain) as Anthropic answers them
ANTHROPIC_CASES: list[tuple[dict[str, Any], str]] = [
    ({"messages": []}, "messages: at least one message is required"),
    ({"messages": "hi"}, "messages: Input should be a valid list"),
    ({"messages": ["hi"]}, "messages.0: Input should be a valid dictionary"),
    (
        {"messages": [{"role": "system", "content": "Be brief."}, USER]},
        'Unexpected role "system". The Messages API accepts a top-level `system` parameter',
    ),
    (
        {"messages": [USER, {"role": "robot", "content": "beep"}]},
        "messages.1.role: Input should be 'user' or 'assistant'",
    ),
    ({"messages": [{"role": "user", "content": 42}]}, "messages.0.content: Input should be"),
    ({"messages": [{"role": "user"}]}, "messages.0.content: Field required"),
    ({"system": 7}, "system: Input should be"),
]


async def test_openai_sdk_gets_bad_request_naming_the_field() -> None:
    async with serve_mock() as server:
        client = openai.AsyncOpenAI(
            api_key="sk-x", base_url=server.openai_base_url, max_retries=0, timeout=10
        )
        async with client:
            for messages, param, message in OPENAI_CASES:
                with pytest.raises(openai.BadRequestError) as caught:
                    await client.chat.completions.create(model="fast", messages=messages)
                error = caught.value
                assert error.status_code == 400
                assert error.type == "invalid_request_error"
                assert error.param == param, messages
                assert message in error.message, messages
            for model in ("", openai.NOT_GIVEN):
                with pytest.raises(openai.BadRequestError) as caught:
                    await client.chat.completions.create(
                        model=model,  # type: ignore[arg-type]
                        messages=[USER],  # type: ignore[list-item]
                    )
                assert caught.value.param == "model"
                assert "you must provide a model parameter" in caught.value.message
            # what stays valid: every role, parts, and an assistant turn that only called tools
            ok = await client.chat.completions.create(
                model="fast",
                messages=[
                    {"role": "developer", "content": "Be brief."},
                    {"role": "system", "content": [{"type": "text", "text": "Really."}]},
                    USER,  # type: ignore[list-item]
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{}"},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_1", "content": "done"},
                    {"role": "function", "name": "f", "content": "done"},
                    USER,  # type: ignore[list-item]
                ],
            )
            assert ok.choices[0].message.content
    assert server.stats.by_status == {400: len(OPENAI_CASES) + 2, 200: 1}


async def test_anthropic_sdk_gets_bad_request_naming_the_field() -> None:
    async with serve_mock() as server:
        client = anthropic.AsyncAnthropic(
            api_key="sk-ant-x", base_url=server.anthropic_base_url, max_retries=0, timeout=10
        )
        async with client:
            for changes, message in ANTHROPIC_CASES:
                params: dict[str, Any] = {
                    "model": "fast",
                    "max_tokens": 50,
                    "messages": [USER],
                    **changes,
                }
                with pytest.raises(anthropic.BadRequestError) as caught:
                    await client.messages.create(**params)
                error = caught.value
                assert error.status_code == 400
                body = error.body
                assert isinstance(body, dict)
                assert body["type"] == "error"
                assert body["error"]["type"] == "invalid_request_error"
                assert message in body["error"]["message"], changes
            with pytest.raises(anthropic.BadRequestError) as caught:
                await client.messages.create(model="", max_tokens=5, messages=[USER])  # type: ignore[list-item]
            assert "model: Field required" in str(caught.value)
            ok = await client.messages.create(
                model="fast",
                max_tokens=50,
                system=[{"type": "text", "text": "Be brief."}],
                messages=[
                    USER,  # type: ignore[list-item]
                    {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
                    USER,  # type: ignore[list-item]
                ],
            )
            assert ok.content
    assert server.stats.by_status == {400: len(ANTHROPIC_CASES) + 1, 200: 1}


async def test_validation_comes_after_faults_and_is_not_charged() -> None:
    """A malformed request still meets the fault plan first (step 4 before step 5), and a
    refused one is never counted as a success."""
    app = create_app()
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://mock") as client:
        bad = {"model": "fast", "messages": [{"role": "robot", "content": "x"}]}
        faulted = await client.post(
            "/v1/chat/completions", json=bad, headers={"x-mock-fault": "server_error"}
        )
        refused = await client.post("/v1/chat/completions", json=bad)
    assert faulted.status_code == 500
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "messages[0].role"
    assert refused.json()["error"]["code"] == "invalid_value"
    assert app.stats.succeeded == 0
