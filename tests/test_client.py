"""The client end to end over a scripted transport: encoding, decoding, streams, errors."""

from __future__ import annotations

import json

import pytest
import structlog

import sluicegate
from sluicegate import (
    AuthenticationError,
    Client,
    ConfigError,
    Done,
    ProviderError,
    ProviderSettings,
    RateLimitedError,
    StreamError,
    TextDelta,
    TransportError,
)
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse
from sluicegate.transports.base import TransportFailure

pytestmark = pytest.mark.anyio

KEY = "sk-test-0123456789abcdefghijklmnop"


def openai_client(transport: ScriptedTransport, **kwargs: object) -> Client:
    """A client over a scripted transport. Retry is off unless asked for: these tests are
    about what one attempt turns into (tests/retry covers retrying)."""
    kwargs.setdefault("stage_settings", {"retry": False})
    return Client(
        providers={"openai": ProviderSettings(api_key=KEY, base_url="http://127.0.0.1:9/v1")},
        transport=transport,
        load_entry_points=False,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_chat_encodes_request_and_decodes_response() -> None:
    transport = ScriptedTransport(Answer.json(200, openai_completion("hello there", 7, 2)))
    async with openai_client(transport) as client:
        response = await client.chat(
            "openai/gpt-4o-mini",
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            temperature=0.2,
            max_tokens=50,
            seed=7,
            tags=["exp-1"],
        )
    assert response.text == "hello there"
    assert response.usage == sluicegate.Usage(7, 2, 0)
    assert response.finish_reason == "stop"
    assert response.provider == "openai"
    assert response.model == "openai/gpt-4o-mini"
    assert response.latency > 0
    [sent] = transport.requests
    assert sent.url == "http://127.0.0.1:9/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(sent.body)
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "max_tokens": 50,
        "seed": 7,
    }
    assert transport.closed is False  # a user-given transport is the caller's


async def test_stream_yields_deltas_then_done_with_the_same_response_shape() -> None:
    transport = ScriptedTransport(
        Answer(200, {"content-type": "text/event-stream"}, openai_sse(["Hel", "lo"], usage=(4, 2)))
    )
    async with openai_client(transport) as client:
        async with client.stream("openai/gpt-4o-mini", "hi") as stream:
            events = [event async for event in stream]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts == ["Hel", "lo"]
    assert isinstance(events[-1], Done)
    response = stream.response
    assert response is not None
    assert response.text == "Hello"
    assert response.usage == sluicegate.Usage(4, 2, 0)
    assert response.finish_reason == "stop"
    assert response.latency > 0
    body = json.loads(transport.requests[0].body)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert transport.streams[0].closed


async def test_stream_cut_midway_raises_stream_error_with_partial_text() -> None:
    chunks = openai_sse(["one ", "two ", "three"], done=False)[:2]
    transport = ScriptedTransport(Answer(200, {}, chunks, cut=True))
    async with openai_client(transport) as client:
        received = []
        with pytest.raises(StreamError) as info:
            async with client.stream("openai/gpt-4o-mini", "count") as stream:
                async for event in stream:
                    received.append(event)
    assert info.value.partial_text == "one two "
    assert info.value.retryable
    assert info.value.provider == "openai" and info.value.model == "gpt-4o-mini"
    assert transport.streams[0].closed


async def test_stream_ending_without_done_marker_is_a_stream_error() -> None:
    transport = ScriptedTransport(Answer(200, {}, openai_sse(["a", "b"], done=False)))
    async with openai_client(transport) as client:
        with pytest.raises(StreamError, match="end marker") as info:
            async with client.stream("openai/m", "x") as stream:
                await stream.final_response()
    assert info.value.partial_text == "ab"


async def test_error_event_inside_a_200_stream_is_a_typed_stream_error() -> None:
    chunks = [
        b'data: {"choices":[{"index":0,"delta":{"content":"par"}}]}\n\n',
        b'data: {"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}\n\n',
    ]
    transport = ScriptedTransport(Answer(200, {}, chunks))
    async with openai_client(transport) as client:
        with pytest.raises(StreamError) as info:
            async with client.stream("openai/m", "x") as stream:
                await stream.final_response()
    assert info.value.error_type == "overloaded"
    assert info.value.status == 200
    assert info.value.partial_text == "par"


@pytest.mark.parametrize(
    ("status", "error_type", "cls", "retryable"),
    [
        (400, "invalid_request_error", ProviderError, False),
        (401, "invalid_api_key", AuthenticationError, False),
        (404, "model_not_found", ProviderError, False),
        (429, "rate_limit_exceeded", RateLimitedError, True),
        (429, "insufficient_quota", RateLimitedError, False),
        (500, "server_error", ProviderError, True),
        (503, None, ProviderError, True),
    ],
)
async def test_error_answers_become_typed_errors_without_the_key(
    status: int, error_type: str | None, cls: type[ProviderError], retryable: bool
) -> None:
    body = {"error": {"message": f"bad key {KEY} rejected", "type": "x", "code": error_type}}
    transport = ScriptedTransport(Answer.json(status, body, {"retry-after": "3"}))
    with structlog.testing.capture_logs() as logs:
        async with openai_client(transport) as client:
            with pytest.raises(cls) as info:
                await client.chat("openai/gpt-4o-mini", "hi")
    error = info.value
    assert type(error) is cls
    assert error.status == status
    assert error.provider == "openai" and error.model == "gpt-4o-mini"
    assert error.retryable is retryable
    assert error.retry_after == 3.0
    assert f"HTTP {status}" in str(error) and "openai/gpt-4o-mini" in str(error)
    for text in (str(error), repr(error), repr(logs)):
        assert KEY not in text
    failed = [e for e in logs if e["event"] == "request.failed"]
    assert failed and failed[0]["status"] == status and failed[0]["model"] == "openai/gpt-4o-mini"


async def test_missing_key_fails_before_sending_and_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    transport = ScriptedTransport(Answer.json(200, openai_completion()))
    async with Client(transport=transport, load_entry_points=False) as client:
        with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
            await client.chat("openai/gpt-4o-mini", "hi")
    assert transport.requests == []


async def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v9")
    transport = ScriptedTransport(Answer.json(200, openai_completion()))
    async with Client(transport=transport, load_entry_points=False) as client:
        await client.chat("openai/gpt-4o-mini", "hi")
        assert KEY not in repr(client)
    assert transport.requests[0].url == "http://127.0.0.1:1/v9/chat/completions"
    assert transport.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_compatible_server_added_under_its_own_name() -> None:
    transport = ScriptedTransport(Answer.json(200, openai_completion("from vllm")))
    providers = {"vllm": ProviderSettings(kind="openai", base_url="http://127.0.0.1:8000/v1")}
    async with Client(providers=providers, transport=transport, load_entry_points=False) as client:
        response = await client.chat("vllm/qwen", "hi")
    assert response.text == "from vllm" and response.provider == "vllm"
    assert json.loads(transport.requests[0].body)["model"] == "qwen"
    assert "authorization" not in transport.requests[0].headers


async def test_unknown_provider_and_bad_model_name_are_config_errors() -> None:
    async with openai_client(ScriptedTransport(Answer())) as client:
        with pytest.raises(ConfigError, match="unknown provider 'nope'"):
            await client.chat("nope/x", "hi")
        with pytest.raises(ConfigError, match="provider/model"):
            await client.chat("gpt-4o", "hi")


async def test_transport_failure_is_a_retryable_transport_error() -> None:
    transport = ScriptedTransport(Answer(cut=True))
    async with openai_client(transport) as client:
        with pytest.raises(TransportError) as info:
            await client.chat("openai/m", "hi")
    assert info.value.retryable and info.value.status is None


async def test_a_transport_timeout_is_a_typed_retryable_error() -> None:
    transport = ScriptedTransport(TransportFailure("timeout", "ReadTimeout"))
    async with openai_client(transport, timeout=0.5) as client:
        with pytest.raises(sluicegate.RequestTimeoutError, match=r"within 0\.5s") as info:
            await client.chat("openai/m", "hi")
    assert info.value.retryable


async def test_the_in_memory_mock_times_out_a_hang_too() -> None:
    # only the hung call is held to 50 ms: on a loaded CI machine a healthy call may not
    # make 50 ms, and what this checks is that the client still answers after a hang
    async with Client(load_entry_points=False, stage_settings={"retry": False}) as client:
        with pytest.raises(sluicegate.RequestTimeoutError, match=r"within 0\.05s"):
            await client.chat("mock/fast", "hi", headers={"x-mock-fault": "hang"}, timeout=0.05)
        assert (await client.chat("mock/fast", "hi")).text


async def test_fan_out_keeps_every_answer_when_one_model_fails() -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        model = json.loads(request.body)["model"]
        if model == "broken":
            return Answer.json(500, {"error": {"message": "boom"}})
        return Answer.json(200, openai_completion(f"answer from {model}"))

    async with openai_client(ScriptedTransport(answer)) as client:
        results = await client.fan_out("hi", models=["openai/a", "openai/broken", "openai/c"])
    assert [r.model for r in results] == ["openai/a", "openai/broken", "openai/c"]
    assert [r.ok for r in results] == [True, False, True]
    assert results[0].text == "answer from a" and results[2].text == "answer from c"
    assert isinstance(results[1].error, ProviderError) and results[1].error.status == 500


async def test_closed_client_refuses_calls() -> None:
    client = openai_client(ScriptedTransport(Answer()))
    with pytest.raises(ConfigError, match="not open"):
        await client.chat("openai/m", "hi")


async def test_responses_and_errors_keep_only_the_rate_limit_headers() -> None:
    """The adaptive limiter reads x-ratelimit-* from answers; nothing else is kept."""
    sent = {
        "x-ratelimit-remaining-requests": "7",
        "x-ratelimit-reset-requests": "1s",
        "retry-after": "2",
        "set-cookie": "session=private",
        "x-request-id": "req-1",
    }
    kept = {k: sent[k] for k in ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests")}
    transport = ScriptedTransport(
        Answer.json(200, openai_completion("ok"), sent),
        Answer.json(429, {"error": {"message": "slow down"}}, sent),
    )
    async with openai_client(transport) as client:
        response = await client.chat("openai/m", "hi")
        with pytest.raises(RateLimitedError) as info:
            await client.chat("openai/m", "hi")
    assert response.headers == {**kept, "retry-after": "2"}
    assert info.value.headers == {**kept, "retry-after": "2"}
    assert "set-cookie" not in repr(response)
