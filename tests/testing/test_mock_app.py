"""The mock server app: wire formats, usage, auth, models, faults and stats.

Most tests call the app in memory through httpx2's ASGITransport; the ones that need a
real connection (cut streams, hangs, disconnects) go through ``serve_mock`` on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest

from sluicegate.testing import FaultPlan, MockApp, MockConfig, create_app, serve_mock
from sluicegate.testing.content import count_input_tokens, count_tokens, generate_answer

pytestmark = pytest.mark.anyio

QUESTION = "What is the capital of France?"
OPENAI_BODY: dict[str, Any] = {"model": "fast", "messages": [{"role": "user", "content": QUESTION}]}
ANTHROPIC_BODY: dict[str, Any] = {
    "model": "fast",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": QUESTION}],
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
ANTHROPIC_WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a place",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
}


@asynccontextmanager
async def in_memory(
    config: MockConfig | None = None,
) -> AsyncIterator[tuple[MockApp, httpx2.AsyncClient]]:
    app = create_app(config)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://mock") as client:
        yield app, client


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) per event; enough of the SSE rules for the mock's output."""
    events: list[tuple[str | None, str]] = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, "\n".join(data)))
    return events


def fault(kind: str) -> dict[str, str]:
    return {"x-mock-fault": kind}


# -- OpenAI ------------------------------------------------------------------------------


async def test_openai_plain_completion() -> None:
    async with in_memory() as (_, client):
        response = await client.post("/v1/chat/completions", json=OPENAI_BODY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["model"] == "fast"
    assert isinstance(body["created"], int)
    assert body["system_fingerprint"]
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    message = choice["message"]
    assert message["role"] == "assistant"
    assert message["refusal"] is None
    assert message["content"] == generate_answer(QUESTION, None, "fast").text
    usage = body["usage"]
    assert usage["prompt_tokens"] == count_input_tokens([QUESTION])
    assert usage["completion_tokens"] == count_tokens(message["content"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


async def test_openai_input_tokens_count_every_message_and_content_parts() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Hello there"}]},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": QUESTION},
    ]
    async with in_memory() as (_, client):
        response = await client.post(
            "/v1/chat/completions", json={"model": "fast", "messages": messages}
        )
    usage = response.json()["usage"]
    texts = ["You are terse.", "Hello there", "Hi!", QUESTION]
    assert usage["prompt_tokens"] == count_input_tokens(texts)
    # The answer follows the last user message.
    content = response.json()["choices"][0]["message"]["content"]
    assert content == generate_answer(QUESTION, None, "fast").text


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_openai_max_tokens_cuts_with_finish_reason_length(field: str) -> None:
    async with in_memory() as (_, client):
        response = await client.post("/v1/chat/completions", json={**OPENAI_BODY, field: 5})
    body = response.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5
    assert count_tokens(body["choices"][0]["message"]["content"]) == 5


async def test_openai_stream_with_usage() -> None:
    request = {**OPENAI_BODY, "stream": True, "stream_options": {"include_usage": True}}
    async with in_memory() as (_, client):
        response = await client.post("/v1/chat/completions", json=request)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert all(name is None for name, _ in events)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finish = chunks[-2]["choices"][0]
    assert finish["delta"] == {}
    assert finish["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2])
    assert all(c["usage"] is None for c in chunks[:-1])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    expected = generate_answer(QUESTION, None, "fast")
    assert text == expected.text
    assert len(chunks) == expected.output_tokens + 3  # role, tokens, finish, usage
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == count_tokens(text)
    assert usage_chunk["usage"]["prompt_tokens"] == count_input_tokens([QUESTION])


async def test_openai_stream_without_usage_has_no_usage_chunk() -> None:
    async with in_memory() as (_, client):
        response = await client.post(
            "/v1/chat/completions", json={**OPENAI_BODY, "stream": True, "max_tokens": 3}
        )
    events = sse_events(response.text)
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert events[-1][1] == "[DONE]"
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert len(chunks) == 1 + 3 + 1


async def test_openai_tool_call_plain_and_streamed() -> None:
    messages = [{"role": "user", "content": "What's the weather in berlin today?"}]
    request = {"model": "fast", "messages": messages, "tools": [WEATHER_TOOL]}
    async with in_memory() as (_, client):
        plain = (await client.post("/v1/chat/completions", json=request)).json()
        streamed = await client.post(
            "/v1/chat/completions",
            json={**request, "stream": True, "stream_options": {"include_usage": True}},
        )
        declined = await client.post(
            "/v1/chat/completions", json={**request, "tool_choice": "none"}
        )
    choice = plain["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "Berlin"}
    expected_tokens = count_tokens("get_weather") + count_tokens(call["function"]["arguments"])
    assert plain["usage"]["completion_tokens"] == expected_tokens

    chunks = [json.loads(data) for _, data in sse_events(streamed.text)[:-1]]
    first_call = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first_call["function"] == {"name": "get_weather", "arguments": ""}
    arguments = "".join(
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[1:-2]
    )
    assert arguments == call["function"]["arguments"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == expected_tokens

    assert declined.json()["choices"][0]["finish_reason"] == "stop"


async def test_openai_tool_result_gets_a_text_answer() -> None:
    messages = [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C"},
    ]
    request = {"model": "fast", "messages": messages, "tools": [WEATHER_TOOL]}
    async with in_memory() as (_, client):
        body = (await client.post("/v1/chat/completions", json=request)).json()
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "fast"}, "messages"),
        ({"model": "fast", "messages": []}, "messages"),
        ({"model": "fast", "messages": ["hello"]}, "messages[0]"),
        ({**OPENAI_BODY, "max_tokens": 0}, "max_tokens"),
        ({**OPENAI_BODY, "max_completion_tokens": "many"}, "max_completion_tokens"),
    ],
)
async def test_openai_invalid_requests(request_body: dict[str, Any], param: str) -> None:
    async with in_memory() as (_, client):
        response = await client.post("/v1/chat/completions", json=request_body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


async def test_body_that_is_not_json_is_a_400() -> None:
    async with in_memory() as (_, client):
        openai = await client.post("/v1/chat/completions", content=b"{not json")
        anthropic = await client.post("/v1/messages", content=b"[1, 2]")
    assert openai.status_code == 400
    assert openai.json()["error"]["type"] == "invalid_request_error"
    assert anthropic.status_code == 400
    assert anthropic.json()["error"]["type"] == "invalid_request_error"


# -- Anthropic ---------------------------------------------------------------------------


async def test_anthropic_plain_message() -> None:
    request = {**ANTHROPIC_BODY, "system": "You are terse."}
    async with in_memory() as (_, client):
        response = await client.post("/v1/messages", json=request)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert body["id"].startswith("msg_")
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["model"] == "fast"
    (block,) = body["content"]
    assert block == {"type": "text", "text": generate_answer(QUESTION, 256, "fast").text}
    assert body["stop_reason"] == "end_turn"
    assert body["stop_sequence"] is None
    assert body["usage"] == {
        "input_tokens": count_input_tokens(["You are terse.", QUESTION]),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": count_tokens(block["text"]),
    }


async def test_anthropic_system_blocks_and_max_tokens_stop() -> None:
    request = {
        **ANTHROPIC_BODY,
        "max_tokens": 4,
        "system": [{"type": "text", "text": "Be brief."}],
    }
    async with in_memory() as (_, client):
        body = (await client.post("/v1/messages", json=request)).json()
    assert body["stop_reason"] == "max_tokens"
    assert body["usage"]["output_tokens"] == 4
    assert body["usage"]["input_tokens"] == count_input_tokens(["Be brief.", QUESTION])


@pytest.mark.parametrize("missing", ["max_tokens", "model", "messages"])
async def test_anthropic_required_fields(missing: str) -> None:
    request = {k: v for k, v in ANTHROPIC_BODY.items() if k != missing}
    async with in_memory() as (_, client):
        response = await client.post("/v1/messages", json=request)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert missing in body["error"]["message"]


async def test_anthropic_stream_events_in_order() -> None:
    async with in_memory() as (_, client):
        response = await client.post("/v1/messages", json={**ANTHROPIC_BODY, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    expected = generate_answer(QUESTION, 256, "fast")
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * expected.output_tokens,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [json.loads(data) for _, data in events]
    assert [p["type"] for p in payloads] == names
    start = payloads[0]["message"]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == count_input_tokens([QUESTION])
    assert start["usage"]["output_tokens"] == 1
    assert payloads[1]["content_block"] == {"type": "text", "text": ""}
    deltas = [p["delta"] for p in payloads if p["type"] == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"text_delta"}
    assert "".join(d["text"] for d in deltas) == expected.text
    message_delta = payloads[-2]
    assert message_delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert message_delta["usage"] == {"output_tokens": expected.output_tokens}


async def test_anthropic_tool_use_plain_and_streamed() -> None:
    request = {
        **ANTHROPIC_BODY,
        "tools": [ANTHROPIC_WEATHER_TOOL],
        "messages": [{"role": "user", "content": "How is the weather in Oslo?"}],
    }
    async with in_memory() as (_, client):
        plain = (await client.post("/v1/messages", json=request)).json()
        streamed = await client.post("/v1/messages", json={**request, "stream": True})
        declined = await client.post(
            "/v1/messages", json={**request, "tool_choice": {"type": "none"}}
        )
    assert plain["stop_reason"] == "tool_use"
    (block,) = plain["content"]
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_")
    assert block["name"] == "get_weather"
    assert block["input"] == {"location": "Oslo"}
    arguments = json.dumps(block["input"], separators=(",", ":"))
    assert plain["usage"]["output_tokens"] == count_tokens("get_weather") + count_tokens(arguments)

    payloads = [json.loads(data) for _, data in sse_events(streamed.text)]
    assert payloads[1]["content_block"]["type"] == "tool_use"
    assert payloads[1]["content_block"]["input"] == {}
    partial = "".join(
        p["delta"]["partial_json"] for p in payloads if p["type"] == "content_block_delta"
    )
    assert json.loads(partial) == {"location": "Oslo"}
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"

    assert declined.json()["stop_reason"] == "end_turn"


async def test_anthropic_tool_result_gets_a_text_answer() -> None:
    messages = [
        {"role": "user", "content": "How is the weather in Oslo?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "Rain, weather bad"}
            ],
        },
    ]
    request = {**ANTHROPIC_BODY, "messages": messages, "tools": [ANTHROPIC_WEATHER_TOOL]}
    async with in_memory() as (_, client):
        body = (await client.post("/v1/messages", json=request)).json()
    assert body["stop_reason"] == "end_turn"
    assert body["content"][0]["text"].startswith("Mock answer to: Rain weather bad.")


# -- models and auth ---------------------------------------------------------------------


async def test_any_model_is_accepted_by_default_and_listed_models() -> None:
    async with in_memory() as (_, client):
        answered = await client.post(
            "/v1/chat/completions", json={**OPENAI_BODY, "model": "whatever-1"}
        )
        openai_list = (await client.get("/v1/models")).json()
        anthropic_list = (
            await client.get("/v1/models", headers={"anthropic-version": "2023-06-01"})
        ).json()
    assert answered.json()["model"] == "whatever-1"
    assert openai_list["object"] == "list"
    assert [m["id"] for m in openai_list["data"]] == ["fast", "smart"]
    assert all(m["object"] == "model" for m in openai_list["data"])
    assert [m["id"] for m in anthropic_list["data"]] == ["fast", "smart"]
    assert all(m["type"] == "model" for m in anthropic_list["data"])
    assert anthropic_list["has_more"] is False


async def test_unknown_model_is_a_404_when_models_are_configured() -> None:
    config = MockConfig(models=["alpha", "beta"])
    async with in_memory(config) as (_, client):
        openai = await client.post("/v1/chat/completions", json={**OPENAI_BODY, "model": "gamma"})
        anthropic = await client.post("/v1/messages", json={**ANTHROPIC_BODY, "model": "gamma"})
        ok = await client.post("/v1/messages", json={**ANTHROPIC_BODY, "model": "beta"})
        listed = (await client.get("/v1/models")).json()
    assert openai.status_code == 404
    assert openai.json()["error"]["code"] == "model_not_found"
    assert anthropic.status_code == 404
    assert anthropic.json()["error"]["type"] == "not_found_error"
    assert ok.status_code == 200
    assert [m["id"] for m in listed["data"]] == ["alpha", "beta"]


KEY = "sk-mock-secret-0123456789"


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": KEY}, {"x-api-key": KEY}],
)
async def test_openai_routes_require_the_bearer_key(headers: dict[str, str]) -> None:
    async with in_memory(MockConfig(require_api_key=KEY)) as (_, client):
        denied = await client.post("/v1/chat/completions", json=OPENAI_BODY, headers=headers)
        allowed = await client.post(
            "/v1/chat/completions", json=OPENAI_BODY, headers={"authorization": f"Bearer {KEY}"}
        )
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "invalid_api_key"
    assert KEY not in denied.text
    assert "wrong" not in denied.text
    assert allowed.status_code == 200


async def test_model_listing_requires_the_key_of_either_shape() -> None:
    async with in_memory(MockConfig(require_api_key=KEY)) as (_, client):
        openai_denied = await client.get("/v1/models", headers={"authorization": "Bearer no"})
        openai_allowed = await client.get("/v1/models", headers={"authorization": f"Bearer {KEY}"})
        anthropic_denied = await client.get("/v1/models", headers={"x-api-key": "no"})
        anthropic_allowed = await client.get("/v1/models", headers={"x-api-key": KEY})
    assert openai_denied.status_code == 401
    assert "error" in openai_denied.json()
    assert anthropic_denied.status_code == 401
    assert anthropic_denied.json()["error"]["type"] == "authentication_error"
    assert openai_allowed.json()["object"] == "list"
    assert anthropic_allowed.json()["has_more"] is False


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}, {"authorization": KEY}],
)
async def test_anthropic_routes_require_the_key(headers: dict[str, str]) -> None:
    async with in_memory(MockConfig(require_api_key=KEY)) as (_, client):
        denied = await client.post("/v1/messages", json=ANTHROPIC_BODY, headers=headers)
        allowed = await client.post("/v1/messages", json=ANTHROPIC_BODY, headers={"x-api-key": KEY})
        bearer = await client.post(
            "/v1/messages", json=ANTHROPIC_BODY, headers={"authorization": f"Bearer {KEY}"}
        )
    assert denied.status_code == 401
    assert denied.json()["error"]["type"] == "authentication_error"
    assert KEY not in denied.text
    assert allowed.status_code == 200
    assert bearer.status_code == 200  # what the anthropic SDK 2.x sends


async def test_config_repr_hides_the_key() -> None:
    assert KEY not in repr(MockConfig(require_api_key=KEY))


# -- faults ------------------------------------------------------------------------------

STATUS_CASES = [
    ("rate_limit", 429, "requests", 429, "rate_limit_error"),
    ("quota", 429, "insufficient_quota", 429, "rate_limit_error"),
    ("server_error", 500, "server_error", 500, "api_error"),
    ("overloaded", 503, "server_error", 529, "overloaded_error"),
    ("bad_request", 400, "invalid_request_error", 400, "invalid_request_error"),
    ("auth", 401, "invalid_request_error", 401, "authentication_error"),
]


@pytest.mark.parametrize(
    ("kind", "openai_status", "openai_type", "anthropic_status", "anthropic_type"), STATUS_CASES
)
async def test_status_faults(
    kind: str, openai_status: int, openai_type: str, anthropic_status: int, anthropic_type: str
) -> None:
    async with in_memory(MockConfig(retry_after_s=2)) as (app, client):
        openai = await client.post("/v1/chat/completions", json=OPENAI_BODY, headers=fault(kind))
        anthropic = await client.post(
            "/v1/messages", json={**ANTHROPIC_BODY, "stream": True}, headers=fault(kind)
        )
    assert openai.status_code == openai_status
    assert openai.json()["error"]["type"] == openai_type
    assert anthropic.status_code == anthropic_status
    assert anthropic.json()["error"]["type"] == anthropic_type
    for response in (openai, anthropic):
        assert response.headers["content-type"] == "application/json"
        if kind == "rate_limit":
            assert response.headers["retry-after"] == "2"
            assert response.headers["retry-after-ms"] == "2000"
        else:
            assert "retry-after" not in response.headers
    assert app.stats.by_fault[kind] == 2
    assert app.stats.succeeded == 0


async def test_anthropic_overloaded_status_is_configurable() -> None:
    async with in_memory(MockConfig(anthropic_overloaded_status=503)) as (_, client):
        response = await client.post(
            "/v1/messages", json=ANTHROPIC_BODY, headers=fault("overloaded")
        )
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "overloaded_error"


async def test_unknown_fault_header_is_a_400() -> None:
    async with in_memory() as (_, client):
        response = await client.post(
            "/v1/chat/completions", json=OPENAI_BODY, headers=fault("meteor")
        )
    assert response.status_code == 400
    assert "meteor" in response.json()["error"]["message"]


async def test_malformed_plain_bodies_are_not_json() -> None:
    async with in_memory() as (_, client):
        openai = await client.post(
            "/v1/chat/completions", json=OPENAI_BODY, headers=fault("malformed")
        )
        anthropic = await client.post(
            "/v1/messages", json=ANTHROPIC_BODY, headers=fault("malformed")
        )
    for response in (openai, anthropic):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        with pytest.raises(ValueError):
            json.loads(response.content)


async def test_malformed_streams_carry_one_event_that_is_not_json() -> None:
    async with in_memory() as (app, client):
        openai = await client.post(
            "/v1/chat/completions", json={**OPENAI_BODY, "stream": True}, headers=fault("malformed")
        )
        anthropic = await client.post(
            "/v1/messages", json={**ANTHROPIC_BODY, "stream": True}, headers=fault("malformed")
        )
    for response, last in ((openai, "[DONE]"), (anthropic, '{"type":"message_stop"}')):
        assert response.status_code == 200
        events = sse_events(response.text)
        bad = []
        for _, data in events:
            try:
                json.loads(data)
            except ValueError:
                bad.append(data)
        assert len(bad) == (2 if last == "[DONE]" else 1)  # [DONE] is not JSON either
        assert events[-1][1] == last
    assert app.stats.by_fault["malformed"] == 2
    assert app.stats.succeeded == 0  # a damaged answer is not a success


async def test_stream_error_events() -> None:
    async with in_memory() as (app, client):
        openai = await client.post(
            "/v1/chat/completions",
            json={**OPENAI_BODY, "stream": True},
            headers=fault("stream_error"),
        )
        anthropic = await client.post(
            "/v1/messages",
            json={**ANTHROPIC_BODY, "stream": True},
            headers=fault("stream_error"),
        )
        plain = await client.post(
            "/v1/messages", json=ANTHROPIC_BODY, headers=fault("stream_error")
        )
    assert openai.status_code == 200
    openai_events = sse_events(openai.text)
    assert json.loads(openai_events[-1][1])["error"]["type"] == "server_error"
    assert "[DONE]" not in openai.text
    assert json.loads(openai_events[1][1])["choices"][0]["delta"]["content"] == "Mock"

    assert anthropic.status_code == 200
    anthropic_events = sse_events(anthropic.text)
    name, data = anthropic_events[-1]
    assert name == "error"
    assert json.loads(data)["error"]["type"] == "overloaded_error"
    assert "content_block_delta" in [n for n, _ in anthropic_events]
    assert "message_stop" not in anthropic.text

    assert plain.status_code == 529
    assert app.stats.succeeded == 0


async def test_fault_after_pieces_sets_where_a_stream_breaks() -> None:
    async with in_memory(MockConfig(fault_after_pieces=2)) as (_, client):
        response = await client.post(
            "/v1/messages",
            json={**ANTHROPIC_BODY, "stream": True},
            headers=fault("stream_error"),
        )
    names = [name for name, _ in sse_events(response.text)]
    assert names.count("content_block_delta") == 2


async def test_scripted_faults_follow_arrival_order() -> None:
    plan = FaultPlan(script=["rate_limit", None, "server_error"])
    async with in_memory(MockConfig(faults=plan)) as (app, client):
        statuses = [
            (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code
            for _ in range(4)
        ]
        header_wins = await client.post(
            "/v1/chat/completions", json=OPENAI_BODY, headers=fault("none")
        )
    assert statuses == [429, 200, 500, 200]
    assert header_wins.status_code == 200
    assert dict(app.stats.by_fault) == {"rate_limit": 1, "server_error": 1}


async def test_rated_faults_are_reproducible() -> None:
    async def run() -> list[int]:
        plan = FaultPlan(rates={"rate_limit": 0.3, "server_error": 0.2}, seed=42)
        async with in_memory(MockConfig(faults=plan)) as (_, client):
            return [
                (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code
                for _ in range(30)
            ]

    first = await run()
    assert first == await run()
    assert {429, 500, 200} <= set(first)


# -- stats -------------------------------------------------------------------------------


async def test_stats_count_paths_faults_tokens_and_idempotency_keys() -> None:
    plan = FaultPlan(script=["rate_limit"])
    async with in_memory(MockConfig(faults=plan)) as (_, client):
        key = {"idempotency-key": "job-1"}
        for _ in range(3):
            await client.post("/v1/chat/completions", json=OPENAI_BODY, headers=key)
        await client.post(
            "/v1/messages",
            json={**ANTHROPIC_BODY, "stream": True},
            headers={"idempotency-key": "job-2"},
        )
        await client.post(
            "/v1/messages",
            json={**ANTHROPIC_BODY, "stream": True},
            headers={"idempotency-key": "job-3", "x-mock-fault": "stream_error"},
        )
        stats = (await client.get("/_mock/stats")).json()
    assert stats["requests"] == 5
    # job-1: refused (429), answered, then replayed from its record without a charge
    assert (stats["succeeded"], stats["replayed"]) == (2, 1)
    assert stats["by_path"] == {"/v1/chat/completions": 3, "/v1/messages": 2}
    assert stats["by_fault"] == {"rate_limit": 1, "stream_error": 1}
    assert stats["by_status"] == {"200": 4, "429": 1}
    assert stats["idempotency"] == {
        "job-1": {"received": 3, "succeeded": 1, "replayed": 1},
        "job-2": {"received": 1, "succeeded": 1, "replayed": 0},
        "job-3": {"received": 1, "succeeded": 0, "replayed": 0},
    }
    openai_answer = generate_answer(QUESTION, None, "fast")
    anthropic_answer = generate_answer(QUESTION, 256, "fast")
    assert stats["output_tokens"] == openai_answer.output_tokens + anthropic_answer.output_tokens
    assert stats["input_tokens"] == 2 * count_input_tokens([QUESTION])


async def test_reset_zeroes_stats_and_restarts_or_replaces_the_plan() -> None:
    plan = FaultPlan(script=["server_error"])
    async with in_memory(MockConfig(faults=plan)) as (app, client):
        assert (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code == 500
        assert (await client.post("/_mock/reset")).json() == {"ok": True}
        assert app.stats.requests == 0
        assert (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code == 500
        replaced = await client.post("/_mock/reset", json={"script": ["quota", None]})
        assert replaced.status_code == 200
        statuses = [
            (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code
            for _ in range(2)
        ]
        assert statuses == [429, 200]
        bad = await client.post("/_mock/reset", json={"rates": {"meteor": 0.5}})
        assert bad.status_code == 400
        stats = (await client.get("/_mock/stats")).json()
    assert stats["requests"] == 2  # /_mock requests are not counted


async def test_tiny_latencies_keep_answers_intact() -> None:
    config = MockConfig(latency_s=0.001, per_token_latency_s=0.0001)
    async with in_memory(config) as (_, client):
        plain = await client.post("/v1/messages", json={**ANTHROPIC_BODY, "max_tokens": 5})
        streamed = await client.post(
            "/v1/messages", json={**ANTHROPIC_BODY, "max_tokens": 5, "stream": True}
        )
    assert plain.json()["usage"]["output_tokens"] == 5
    assert [n for n, _ in sse_events(streamed.text)].count("content_block_delta") == 5


# -- over a real connection --------------------------------------------------------------


async def test_cut_stream_drops_the_connection() -> None:
    async with serve_mock() as server, httpx2.AsyncClient(base_url=server.base_url) as client:
        received = bytearray()
        with pytest.raises(httpx2.RemoteProtocolError):
            async with client.stream(
                "POST",
                "/v1/chat/completions",
                json={**OPENAI_BODY, "stream": True},
                headers=fault("cut_stream"),
            ) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_bytes():
                    received.extend(chunk)
        events = sse_events(received.decode())
        assert events  # some events arrived before the cut
        assert "[DONE]" not in received.decode()

        with pytest.raises(httpx2.RemoteProtocolError):
            await client.post("/v1/messages", json=ANTHROPIC_BODY, headers=fault("cut_stream"))
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.post(
                "/v1/messages",
                json={**ANTHROPIC_BODY, "stream": True},
                headers=fault("cut_stream"),
            )
        # The server is still fine afterwards.
        ok = await client.post("/v1/messages", json=ANTHROPIC_BODY)
        assert ok.status_code == 200
        assert server.stats.succeeded == 1


async def test_hang_is_cut_by_the_client_timeout_and_ends_on_disconnect() -> None:
    with anyio.fail_after(10):
        async with serve_mock() as server, httpx2.AsyncClient(base_url=server.base_url) as client:
            with anyio.move_on_after(0.2) as scope:
                await client.post("/v1/chat/completions", json=OPENAI_BODY, headers=fault("hang"))
            assert scope.cancelled_caught
            # The client closed its connection, so the hung handler ends (answering 499).
            while server.stats.by_status[499] == 0:  # noqa: ASYNC110 - no event to wait on
                await anyio.sleep(0.01)
            assert server.stats.succeeded == 0


async def test_shutdown_ends_a_hang_in_progress() -> None:
    app = create_app()
    admitted = anyio.Event()
    # An admission check runs just before the hang starts, with no await in between.
    app.admission_checks.append(lambda job: admitted.set())
    responses: list[httpx2.Response] = []
    with anyio.fail_after(10):
        async with httpx2.AsyncClient() as client, anyio.create_task_group() as group:
            async with serve_mock(app=app) as server:

                async def call() -> None:
                    responses.append(
                        await client.post(
                            server.base_url + "/v1/messages",
                            json=ANTHROPIC_BODY,
                            headers=fault("hang"),
                        )
                    )

                group.start_soon(call)
                await admitted.wait()
    (response,) = responses
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "api_error"


async def test_stream_stops_when_the_client_goes_away() -> None:
    # Each piece waits 10 s; a stream that ignored the disconnect would hold the
    # shutdown for the whole graceful timeout (30 s) and trip fail_after.
    config = MockConfig(per_token_latency_s=10)
    with anyio.fail_after(10):
        async with (
            serve_mock(config, graceful_timeout=30) as server,
            httpx2.AsyncClient(base_url=server.base_url) as client,
        ):
            async with client.stream(
                "POST", "/v1/messages", json={**ANTHROPIC_BODY, "stream": True}
            ) as response:
                async for chunk in response.aiter_bytes():
                    if b"ping" in chunk:
                        break
        assert server.stats.succeeded == 0


async def test_serve_mock_on_port_zero_reports_the_bound_port() -> None:
    async with serve_mock() as server:
        assert server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert server.openai_base_url == server.base_url + "/v1"
        async with httpx2.AsyncClient(base_url=server.base_url) as client:
            response = await client.post("/v1/chat/completions", json=OPENAI_BODY)
        assert response.status_code == 200
        assert server.stats is server.app.stats


async def test_errors_in_the_block_leave_serve_mock_unwrapped() -> None:
    with pytest.raises(LookupError, match="from the test"):
        async with serve_mock():
            raise LookupError("from the test")


# -- the command line --------------------------------------------------------------------


def test_cli_rejects_a_bad_fault_spec() -> None:
    from click.testing import CliRunner

    from sluicegate.cli.mock_server import command

    result = CliRunner().invoke(command, ["--fault", "meteor=0.5"])
    assert result.exit_code == 2
    assert "unknown fault kind 'meteor'" in result.output
    result = CliRunner().invoke(command, ["--fault", "rate_limit=0.7", "--fault", "quota=0.7"])
    assert result.exit_code == 2
    assert "more than 1" in result.output


def test_cli_serves_until_interrupted() -> None:
    import os
    import signal
    import subprocess
    import sys

    code = "from sluicegate.cli.mock_server import command; command()"
    args = [sys.executable, "-c", code, "--port", "0", "--fault", "rate_limit=1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SLUICEGATE_MOCK_API_KEY": "sk-cli-key"}
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert first.startswith("sluicegate mock server listening on http://127.0.0.1:")
            base_url = first.rsplit(" ", 1)[1].strip()
            assert f"OPENAI_BASE_URL={base_url}/v1" in process.stdout.readline()
            headers = {"authorization": "Bearer sk-cli-key"}
            limited = httpx2.post(
                base_url + "/v1/chat/completions", json=OPENAI_BODY, headers=headers, timeout=10
            )
            assert limited.status_code == 429
            denied = httpx2.post(base_url + "/v1/chat/completions", json=OPENAI_BODY, timeout=10)
            assert denied.status_code == 401
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
