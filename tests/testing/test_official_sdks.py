"""The official OpenAI and Anthropic SDKs, pointed at the mock, see what the mock promises.

This is the check that the wire formats are right: the SDKs parse them with their own
types. Retries are off so every fault reaches the test as the SDK's own error.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from sluicegate.testing import MockConfig, serve_mock
from sluicegate.testing.content import count_input_tokens, count_tokens, generate_answer

pytestmark = pytest.mark.anyio

QUESTION = "Name three rivers in Europe."
SYSTEM = "You answer briefly."


def openai_client(base_url: str, api_key: str = "sk-anything") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=10)


def anthropic_client(base_url: str, api_key: str = "sk-ant-anything") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=10)


async def test_openai_plain_and_streamed() -> None:
    expected = generate_answer(QUESTION, None, "fast")
    prompt_tokens = count_input_tokens([SYSTEM, QUESTION])
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]
    async with serve_mock() as server, openai_client(server.openai_base_url) as client:
        completion = await client.chat.completions.create(model="fast", messages=messages)
        assert completion.choices[0].message.content == expected.text
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None
        assert completion.usage.prompt_tokens == prompt_tokens
        assert completion.usage.completion_tokens == expected.output_tokens

        stream = await client.chat.completions.create(
            model="fast",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        text: list[str] = []
        finish_reasons: list[str] = []
        usage = None
        async for chunk in stream:
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
                if choice.finish_reason:
                    finish_reasons.append(choice.finish_reason)
            if chunk.usage is not None:
                usage = chunk.usage
        assert "".join(text) == expected.text
        assert finish_reasons == ["stop"]
        assert usage is not None
        assert usage.prompt_tokens == prompt_tokens
        assert usage.completion_tokens == count_tokens("".join(text))
        assert server.stats.succeeded == 2


async def test_anthropic_plain_and_streamed() -> None:
    expected = generate_answer(QUESTION, 300, "fast")
    input_tokens = count_input_tokens([SYSTEM, QUESTION])
    async with serve_mock() as server, anthropic_client(server.anthropic_base_url) as client:
        message = await client.messages.create(
            model="fast",
            max_tokens=300,
            system=SYSTEM,
            messages=[{"role": "user", "content": QUESTION}],
        )
        assert message.content[0].type == "text"
        assert message.content[0].text == expected.text
        assert message.stop_reason == "end_turn"
        assert message.usage.input_tokens == input_tokens
        assert message.usage.output_tokens == expected.output_tokens

        async with client.messages.stream(
            model="fast",
            max_tokens=300,
            system=SYSTEM,
            messages=[{"role": "user", "content": QUESTION}],
        ) as stream:
            streamed = "".join([text async for text in stream.text_stream])
            final = await stream.get_final_message()
        assert streamed == expected.text
        assert final.content[0].type == "text"
        assert final.content[0].text == expected.text
        assert final.stop_reason == "end_turn"
        assert final.usage.input_tokens == input_tokens
        assert final.usage.output_tokens == count_tokens(streamed)
        assert server.stats.succeeded == 2


async def test_max_tokens_stop_reasons() -> None:
    async with serve_mock() as server:
        async with openai_client(server.openai_base_url) as client:
            completion = await client.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": QUESTION}], max_tokens=3
            )
        async with anthropic_client(server.anthropic_base_url) as other:
            message = await other.messages.create(
                model="fast", max_tokens=3, messages=[{"role": "user", "content": QUESTION}]
            )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3


async def test_tool_calls() -> None:
    question = "What is the weather in Lisbon?"
    async with serve_mock() as server:
        async with openai_client(server.openai_base_url) as client:
            completion = await client.chat.completions.create(
                model="fast",
                messages=[{"role": "user", "content": question}],
                tools=[
                    {
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "parameters": {
                                "type": "object",
                                "properties": {"location": {"type": "string"}},
                            },
                        },
                    }
                ],
            )
        async with anthropic_client(server.anthropic_base_url) as other:
            async with other.messages.stream(
                model="fast",
                max_tokens=100,
                messages=[{"role": "user", "content": question}],
                tools=[
                    {
                        "name": "get_weather",
                        "input_schema": {
                            "type": "object",
                            "properties": {"location": {"type": "string"}},
                        },
                    }
                ],
            ) as stream:
                final = await stream.get_final_message()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"location":"Lisbon"}'
    assert final.stop_reason == "tool_use"
    block = final.content[0]
    assert block.type == "tool_use"
    assert block.name == "get_weather"
    assert block.input == {"location": "Lisbon"}


async def test_status_faults_become_the_sdks_errors() -> None:
    config = MockConfig(retry_after_s=3)
    async with serve_mock(config) as server:
        async with openai_client(server.openai_base_url) as client:
            with pytest.raises(openai.RateLimitError) as limited:
                await client.chat.completions.create(
                    model="fast",
                    messages=[{"role": "user", "content": QUESTION}],
                    extra_headers={"x-mock-fault": "rate_limit"},
                )
            with pytest.raises(openai.RateLimitError) as quota:
                await client.chat.completions.create(
                    model="fast",
                    messages=[{"role": "user", "content": QUESTION}],
                    extra_headers={"x-mock-fault": "quota"},
                )
        async with anthropic_client(server.anthropic_base_url) as other:
            with pytest.raises(anthropic.OverloadedError):
                await other.messages.create(
                    model="fast",
                    max_tokens=10,
                    messages=[{"role": "user", "content": QUESTION}],
                    extra_headers={"x-mock-fault": "overloaded"},
                )
            with pytest.raises(anthropic.RateLimitError) as spend:
                await other.messages.create(
                    model="fast",
                    max_tokens=10,
                    messages=[{"role": "user", "content": QUESTION}],
                    extra_headers={"x-mock-fault": "quota"},
                )
    assert limited.value.response.headers["retry-after"] == "3"
    assert limited.value.response.headers["retry-after-ms"] == "3000"
    assert limited.value.code == "rate_limit_exceeded"
    assert quota.value.code == "insufficient_quota"
    assert spend.value.error_code == "enforced_spend_limit_reached"


async def test_stream_error_events_raise_in_the_sdks() -> None:
    async with serve_mock() as server:
        async with openai_client(server.openai_base_url) as client:
            stream = await client.chat.completions.create(
                model="fast",
                messages=[{"role": "user", "content": QUESTION}],
                stream=True,
                extra_headers={"x-mock-fault": "stream_error"},
            )
            received: list[str] = []
            with pytest.raises(openai.APIError, match="overloaded"):
                async for chunk in stream:
                    received.extend(c.delta.content or "" for c in chunk.choices)
            assert "".join(received).startswith("Mock answer")
        async with anthropic_client(server.anthropic_base_url) as other:
            with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
                async with other.messages.stream(
                    model="fast",
                    max_tokens=100,
                    messages=[{"role": "user", "content": QUESTION}],
                    extra_headers={"x-mock-fault": "stream_error"},
                ) as stream_:
                    await stream_.get_final_message()
        assert server.stats.succeeded == 0


async def test_api_key_is_checked() -> None:
    key = "sk-mock-required-key-42"
    async with serve_mock(MockConfig(require_api_key=key)) as server:
        async with openai_client(server.openai_base_url, api_key="sk-wrong") as client:
            with pytest.raises(openai.AuthenticationError) as denied:
                await client.chat.completions.create(
                    model="fast", messages=[{"role": "user", "content": QUESTION}]
                )
        assert key not in str(denied.value)
        async with openai_client(server.openai_base_url, api_key=key) as client:
            await client.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": QUESTION}]
            )
        async with anthropic_client(server.anthropic_base_url, api_key="sk-wrong") as other:
            with pytest.raises(anthropic.AuthenticationError):
                await other.messages.create(
                    model="fast", max_tokens=5, messages=[{"role": "user", "content": QUESTION}]
                )
        async with anthropic_client(server.anthropic_base_url, api_key=key) as other:
            await other.messages.create(
                model="fast", max_tokens=5, messages=[{"role": "user", "content": QUESTION}]
            )
        assert server.stats.succeeded == 2


async def test_model_listing() -> None:
    async with serve_mock() as server:
        async with openai_client(server.openai_base_url) as client:
            openai_ids = [model.id async for model in client.models.list()]
        async with anthropic_client(server.anthropic_base_url) as other:
            anthropic_ids = [model.id async for model in other.models.list()]
    assert openai_ids == ["fast", "smart"]
    assert anthropic_ids == ["fast", "smart"]
