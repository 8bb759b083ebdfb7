"""The official google-genai SDK, pointed at the mock, parses what the mock's Gemini
format sends: plain and streamed answers, usage, function calls, JSON answers and
``google.rpc.Status`` errors, with the SDK's own types. Its retries are off so each fault
reaches the test as the SDK's own error.

On trio the SDK is given an ``httpx2.AsyncClient``: google-genai sends asynchronous
requests through aiohttp whenever aiohttp is installed (sluicegate installs it), and
aiohttp runs on asyncio only; with its own ``httpx_async_client`` option it runs on
trio. On asyncio the SDK's defaults are used.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx2
import pytest
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

from sluicegate.testing import MockConfig, MockServer, serve_mock
from sluicegate.testing.content import count_input_tokens, count_tokens, generate_answer

pytestmark = pytest.mark.anyio

MODEL = "gemini-2.5-flash"
KEY = "gemini-sdk-key-0123456789"
QUESTION = "Name three rivers in Europe."
SYSTEM = "You answer briefly."


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "mixed"]
    score: int


@asynccontextmanager
async def sdk_client(
    server: MockServer, anyio_backend: str, api_key: str = KEY
) -> AsyncIterator[genai.client.AsyncClient]:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "api_version": "v1beta",
        "retry_options": types.HttpRetryOptions(attempts=1),
        "timeout": 10_000,  # milliseconds
    }
    own = httpx2.AsyncClient() if anyio_backend == "trio" else None
    if own is not None:
        options["httpx_async_client"] = own
    client = genai.Client(api_key=api_key, http_options=types.HttpOptions(**options)).aio
    try:
        yield client
    finally:
        await client.aclose()
        if own is not None:
            await own.aclose()


def fault(kind: str) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"x-mock-fault": kind})
    )


async def test_plain_and_streamed(anyio_backend: str) -> None:
    expected = generate_answer(QUESTION, 200, MODEL)
    prompt_tokens = count_input_tokens([SYSTEM, QUESTION])
    config = types.GenerateContentConfig(system_instruction=SYSTEM, max_output_tokens=200)
    async with serve_mock(MockConfig(require_api_key=KEY)) as server:
        async with sdk_client(server, anyio_backend) as client:
            answer = await client.models.generate_content(
                model=MODEL, contents=QUESTION, config=config
            )
            chunks = [
                chunk
                async for chunk in await client.models.generate_content_stream(
                    model=MODEL, contents=QUESTION, config=config
                )
            ]
        succeeded = server.stats.succeeded
    assert answer.text == expected.text
    assert answer.candidates is not None
    assert answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.usage_metadata is not None
    assert answer.usage_metadata.prompt_token_count == prompt_tokens
    assert answer.usage_metadata.candidates_token_count == expected.output_tokens
    assert answer.model_version == MODEL

    streamed = "".join(chunk.text or "" for chunk in chunks)
    assert streamed == expected.text
    assert len(chunks) > 2
    last = chunks[-1]
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert last.usage_metadata.candidates_token_count == count_tokens(streamed)
    assert succeeded == 2


async def test_max_output_tokens_is_max_tokens(anyio_backend: str) -> None:
    async with serve_mock() as server, sdk_client(server, anyio_backend) as client:
        answer = await client.models.generate_content(
            model=MODEL,
            contents=QUESTION,
            config=types.GenerateContentConfig(max_output_tokens=3),
        )
    assert answer.candidates is not None
    assert answer.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert answer.usage_metadata is not None
    assert answer.usage_metadata.candidates_token_count == 3


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_function_calls(anyio_backend: str, streamed: bool) -> None:
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="Current weather for a city.",
        parameters_json_schema={"type": "object", "properties": {"location": {"type": "string"}}},
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[weather])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    prompt = "What is the weather in Lisbon?"
    async with serve_mock() as server, sdk_client(server, anyio_backend) as client:
        if streamed:
            chunks = [
                c
                async for c in await client.models.generate_content_stream(
                    model=MODEL, contents=prompt, config=config
                )
            ]
            calls = [call for chunk in chunks for call in chunk.function_calls or ()]
        else:
            answer = await client.models.generate_content(
                model=MODEL, contents=prompt, config=config
            )
            calls = list(answer.function_calls or ())
    [call] = calls
    assert call.name == "get_weather"
    assert call.args == {"location": "Lisbon"}


@pytest.mark.parametrize("how", ["response_schema", "response_json_schema"])
async def test_json_answers_parse_into_the_schema(anyio_backend: str, how: str) -> None:
    schema: Any = Review if how == "response_schema" else Review.model_json_schema()
    config = types.GenerateContentConfig(response_mime_type="application/json", **{how: schema})
    async with serve_mock() as server, sdk_client(server, anyio_backend) as client:
        answer = await client.models.generate_content(
            model=MODEL, contents="Review: it works", config=config
        )
    assert answer.text is not None
    data = json.loads(answer.text)
    Review.model_validate(data)
    if how == "response_schema":
        assert isinstance(answer.parsed, Review)


async def test_rate_limit_errors_carry_their_retry_info(anyio_backend: str) -> None:
    async with serve_mock(MockConfig(retry_after_s=7)) as server:
        async with sdk_client(server, anyio_backend) as client:
            with pytest.raises(errors.ClientError) as info:
                await client.models.generate_content(
                    model=MODEL, contents="hi", config=fault("rate_limit")
                )
    assert info.value.code == 429
    assert info.value.status == "RESOURCE_EXHAUSTED"
    details = info.value.details["error"]["details"]
    [retry] = [d for d in details if d["@type"].endswith("RetryInfo")]
    assert retry["retryDelay"] == "7s"


@pytest.mark.parametrize(
    ("kind", "error", "code", "status"),
    [
        ("overloaded", errors.ServerError, 503, "UNAVAILABLE"),
        ("server_error", errors.ServerError, 500, "INTERNAL"),
        ("bad_request", errors.ClientError, 400, "INVALID_ARGUMENT"),
        ("quota", errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    ],
)
async def test_status_faults_are_the_sdks_errors(
    anyio_backend: str, kind: str, error: type[errors.APIError], code: int, status: str
) -> None:
    async with serve_mock() as server, sdk_client(server, anyio_backend) as client:
        with pytest.raises(error) as info:
            await client.models.generate_content(model=MODEL, contents="hi", config=fault(kind))
    assert (info.value.code, info.value.status) == (code, status)


async def test_a_wrong_or_missing_key_is_refused_as_google_refuses_it(anyio_backend: str) -> None:
    async with serve_mock(MockConfig(require_api_key=KEY)) as server:
        async with sdk_client(server, anyio_backend, api_key="wrong-key-0123") as client:
            with pytest.raises(errors.ClientError) as wrong:
                await client.models.generate_content(model=MODEL, contents="hi")
    assert (wrong.value.code, wrong.value.status) == (400, "INVALID_ARGUMENT")
    [info] = wrong.value.details["error"]["details"]
    assert info["reason"] == "API_KEY_INVALID"
    assert "wrong-key-0123" not in json.dumps(wrong.value.details)


async def test_an_error_in_a_stream_is_raised_by_the_sdk(anyio_backend: str) -> None:
    async with serve_mock() as server, sdk_client(server, anyio_backend) as client:
        texts: list[str] = []
        with pytest.raises(errors.APIError) as info:
            async for chunk in await client.models.generate_content_stream(
                model=MODEL, contents=QUESTION, config=fault("stream_error")
            ):
                texts.append(chunk.text or "")
    assert info.value.code == 503
    assert texts  # the error came after some text, as the fault places it
