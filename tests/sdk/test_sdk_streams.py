"""Streamed calls of the official openai and anthropic SDKs through sluicegate's chain:
the provider's SSE bytes reach the SDK as they arrive, untouched, while the chain reads
their usage for the ledger and retries a stream that failed before any content."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import anthropic
import anyio
import openai
import pytest
import structlog
from anyio.abc import SocketStream

import sluicegate
from sdk_clients import (
    KEY,
    anthropic_sdk,
    chain_client,
    check_keys,
    faulty,
    openai_sdk,
    openai_stream,
)
from sluicegate import Client
from sluicegate.testing import serve_mock
from sluicegate.testing.faults import FaultKind

pytestmark = pytest.mark.anyio

CALLS = 30
STREAM_FAULTS: dict[FaultKind, float] = {
    "rate_limit": 0.1,
    "server_error": 0.05,
    "overloaded": 0.05,
    "cut_stream": 0.05,
    "stream_error": 0.05,
}
"""30% of the requests fail: before the stream (status answers) or inside it."""


async def anthropic_stream(sdk: anthropic.AsyncAnthropic, i: int) -> tuple[str, int, int]:
    async with sdk.messages.stream(
        model="fast", max_tokens=60, messages=[{"role": "user", "content": f"question {i}"}]
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        message = await stream.get_final_message()
    return text, message.usage.input_tokens, message.usage.output_tokens


async def run_calls(sdk: Any, ask: Any, errors: type[Exception]) -> tuple[Counter[str], int, int]:
    outcomes: Counter[str] = Counter()
    usage_in = usage_out = 0
    for i in range(CALLS):
        try:
            text, used_in, used_out = await ask(sdk, i)
        except errors as error:
            outcomes[type(error).__name__] += 1
        else:
            assert text.startswith("Mock answer")
            outcomes["answered"] += 1
            usage_in += used_in
            usage_out += used_out
    return outcomes, usage_in, usage_out


@pytest.mark.parametrize("sdk_name", ["openai", "anthropic"])
async def test_streams_failing_before_content_are_retried_unseen_and_counted(
    sdk_name: str,
) -> None:
    # fault_after_pieces=0: each cut or error event comes before the first text, so the
    # chain still holds the stream's bytes and replaces it; the SDK sees one clean stream
    config = faulty(seed=3, rates=STREAM_FAULTS, fault_after_pieces=0)
    async with serve_mock(config) as server, chain_client() as client:
        if sdk_name == "openai":
            sdk: Any = openai_sdk(server, client)
            ask: Any = openai_stream
            errors: type[Exception] = openai.APIError
        else:
            sdk, ask, errors = anthropic_sdk(server, client), anthropic_stream, anthropic.APIError
        outcomes, usage_in, usage_out = await run_calls(sdk, ask, errors)
        stats = server.stats.snapshot()
    print(sdk_name, "streamed", stats["requests"], stats["by_fault"], dict(outcomes))
    assert sum(outcomes.values()) == CALLS and outcomes["answered"] > 0
    assert stats["by_fault"].get("cut_stream") and stats["by_fault"].get("stream_error")
    check_keys(stats, CALLS)
    total = client.ledger.snapshot().total
    assert (total.input_tokens, total.output_tokens) == (usage_in, usage_out)
    assert (stats["input_tokens"], stats["output_tokens"]) == (usage_in, usage_out)
    assert total.cut_streams == 0


@pytest.mark.parametrize("sdk_name", ["openai", "anthropic"])
async def test_streams_failing_after_content_end_in_the_sdks_own_errors(sdk_name: str) -> None:
    # the faults hit halfway through the text: the SDK has shown some of it, so the chain
    # cannot replace the stream; the SDK raises its own error (an error event: from the
    # event's bytes; a cut: from httpx's RemoteProtocolError, as without sluicegate)
    config = faulty(seed=5, rates={"cut_stream": 0.2, "stream_error": 0.15})
    async with serve_mock(config) as server, chain_client() as client:
        if sdk_name == "openai":
            sdk: Any = openai_sdk(server, client)
            ask: Any = openai_stream
            errors: type[Exception] = openai.APIError
            expected = {"APIConnectionError", "APIError"}
        else:
            sdk, ask, errors = anthropic_sdk(server, client), anthropic_stream, anthropic.APIError
            expected = {"APIConnectionError", "APIStatusError"}
        outcomes, usage_in, usage_out = await run_calls(sdk, ask, errors)
        stats = server.stats.snapshot()
    print(sdk_name, "cut after content", stats["by_fault"], dict(outcomes))
    failed = CALLS - outcomes["answered"]
    assert failed == stats["by_fault"]["cut_stream"] + stats["by_fault"]["stream_error"] > 0
    assert set(outcomes) - {"answered"} == expected
    assert stats["requests"] == CALLS  # nothing is retried once content went up
    total = client.ledger.snapshot().total
    assert total.answered == outcomes["answered"] and total.cut_streams == failed
    # the answered streams are counted as the SDK saw them; a cut one is charged too
    # (input and the text that arrived, as a provider bills it), which the SDK never saw
    assert (stats["input_tokens"], stats["output_tokens"]) == (usage_in, usage_out)
    assert total.input_tokens > usage_in and total.output_tokens > usage_out


async def test_the_sdk_gets_the_first_bytes_before_the_stream_ends() -> None:
    # a loopback server that sends the first event, then waits until the test has seen
    # that event come out of the SDK: a transport that read the stream whole would never
    # give it, and the call would time out instead
    gate = anyio.Event()
    first = json.dumps(
        {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}
    )
    rest = [
        json.dumps(
            {
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}],
            }
        ),
        json.dumps(
            {
                "object": "chat.completion.chunk",
                "choices": [],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2},
            }
        ),
        "[DONE]",
    ]

    async def handle(connection: SocketStream) -> None:
        async with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await connection.receive()
            headers, _, body = head.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in headers.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            while len(body) < length:
                body += await connection.receive()
            await connection.send(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            await connection.send(chunked(f"data: {first}\n\n"))
            await gate.wait()
            for data in rest:
                await connection.send(chunked(f"data: {data}\n\n"))
            await connection.send(b"0\r\n\r\n")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as group, Client() as client:
        group.start_soon(listener.serve, handle)
        sdk = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key=KEY,
            max_retries=0,
            http_client=sluicegate.http_client(client),
        )
        texts: list[str] = []
        with anyio.fail_after(10):
            stream = await sdk.chat.completions.create(
                model="fast",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    texts.append(chunk.choices[0].delta.content)
                    gate.set()  # only now may the server send the rest
        group.cancel_scope.cancel()
    assert texts == ["Hel", "lo"]
    total = client.ledger.snapshot().total
    assert (total.requests, total.input_tokens, total.output_tokens) == (1, 3, 2)


def chunked(text: str) -> bytes:
    data = text.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_the_sdk_key_is_in_no_log_line_or_error_of_a_failed_stream() -> None:
    config = faulty(seed=1, rates={"stream_error": 0.5, "cut_stream": 0.5})
    seen: list[str] = []
    with structlog.testing.capture_logs() as logs:
        async with serve_mock(config) as server, chain_client() as client:
            sdk = openai_sdk(server, client)
            for i in range(6):
                try:
                    await openai_stream(sdk, i)
                except openai.APIError as error:
                    seen += [str(error), repr(error), repr(error.__cause__)]
                    seen += [repr(error.__cause__.__cause__)] if error.__cause__ else []
            seen.append(repr(client.ledger.snapshot()))
    seen += [repr(line) for line in logs]
    assert logs and len(seen) > 3
    assert not [text for text in seen if KEY in text]
