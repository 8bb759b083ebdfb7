"""One structured event per logical request and one per attempt, with their fields."""

from __future__ import annotations

import pytest
import structlog

from sluicegate import Client, Done, ProviderError, ProviderSettings
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse

pytestmark = pytest.mark.anyio
KEY = "sk-log-0123456789abcdefghijklmn"


def client_with(transport: ScriptedTransport) -> Client:
    return Client(
        providers={"openai": ProviderSettings(api_key=KEY, base_url="http://127.0.0.1:9/v1")},
        transport=transport,
        load_entry_points=False,
        stage_settings={"retry": False},  # one attempt, so one attempt event to check
    )


async def test_a_plain_call_logs_one_request_event_and_one_attempt_event() -> None:
    with structlog.testing.capture_logs() as logs:
        async with client_with(
            ScriptedTransport(Answer.json(200, openai_completion("x", 11, 4)))
        ) as c:
            response = await c.chat("openai/gpt-4o-mini", "hi")
    request_events = [e for e in logs if e["event"] == "request.finished"]
    attempt_events = [e for e in logs if e["event"] == "attempt.finished"]
    assert len(request_events) == 1 and len(attempt_events) == 1
    event = request_events[0]
    assert event["request_id"] == response.request_id and event["request_id"].startswith("req_")
    assert event["model"] == "openai/gpt-4o-mini" and event["status"] == "ok"
    assert (event["input_tokens"], event["output_tokens"]) == (11, 4)
    assert event["latency_s"] >= 0 and event["log_level"] == "info"
    assert attempt_events[0]["request_id"] == event["request_id"]
    assert KEY not in repr(logs)


async def test_a_stream_is_logged_once_when_it_ends() -> None:
    transport = ScriptedTransport(Answer(200, {}, openai_sse(["a", "b"], usage=(5, 2))))
    with structlog.testing.capture_logs() as logs:
        async with client_with(transport) as client:
            async with client.stream("openai/m", "hi") as stream:
                async for event in stream:
                    logged = [e for e in logs if e["event"] == "request.finished"]
                    assert bool(logged) == isinstance(event, Done)
    [event] = [e for e in logs if e["event"] == "request.finished"]
    assert (event["input_tokens"], event["output_tokens"]) == (5, 2)


async def test_a_failed_call_logs_the_attempt_and_the_request_with_status() -> None:
    transport = ScriptedTransport(Answer.json(503, {"error": {"message": "busy"}}))
    with structlog.testing.capture_logs() as logs:
        async with client_with(transport) as client:
            with pytest.raises(ProviderError):
                await client.chat("openai/m", "hi")
    [attempt] = [e for e in logs if e["event"] == "attempt.failed"]
    [request] = [e for e in logs if e["event"] == "request.failed"]
    assert attempt["status"] == 503 and attempt["retryable"] is True
    assert request["status"] == 503 and request["error_type"] == "ProviderError"
    assert request["log_level"] == "warning"
