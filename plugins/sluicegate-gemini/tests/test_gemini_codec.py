"""The Gemini codec on wire examples: request bodies as the REST reference describes them
(https://ai.google.dev/api/generate-content), answers and error bodies as the API sends
them (each example names where its shape was recorded)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluicegate import (
    AuthenticationError,
    BadInputError,
    ContentBlockedError,
    Message,
    ProviderError,
    RateLimitedError,
    Request,
    ResponseFormatError,
    ToolCall,
    Usage,
)
from sluicegate.plugins import HttpResponse
from sluicegate.types import Params
from sluicegate_gemini.codec import GeminiProvider

CODEC = GeminiProvider("http://127.0.0.1:9/v1beta", {"X-Goog-User-Project": "p"})


def request(*messages: Message, stream: bool = False, **params: Any) -> Request:
    return Request(
        model="gemini/gemini-2.5-flash",
        messages=messages or (Message("user", "hi"),),
        params=Params.from_kwargs(params),
        stream=stream,
    )


def body_of(req: Request) -> dict[str, Any]:
    return json.loads(CODEC.encode(req).body)


def decode(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = HttpResponse(status, headers or {}, raw)
    if status >= 300:
        return CODEC.decode_error(request(), response)
    return CODEC.decode(request(), response)


# -- requests --------------------------------------------------------------------------------


def test_the_url_names_the_model_and_a_stream_asks_for_sse() -> None:
    plain = CODEC.encode(request())
    streamed = CODEC.encode(request(stream=True))
    assert plain.url == "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent"
    assert streamed.url == (
        "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert plain.headers["x-goog-user-project"] == "p"
    assert "x-goog-api-key" not in plain.headers  # the dispatcher's to write


def test_roles_system_and_parameters_are_translated() -> None:
    body = body_of(
        request(
            Message("system", "Be brief."),
            Message("user", "Name a river."),
            Message("assistant", "The Nile."),
            Message("user", "Another?"),
            temperature=0.2,
            max_tokens=50,
            top_p=0.9,
            stop=["END"],
        )
    )
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Name a river."}]},
        {"role": "model", "parts": [{"text": "The Nile."}]},
        {"role": "user", "parts": [{"text": "Another?"}]},
    ]
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 50,
        "topP": 0.9,
        "stopSequences": ["END"],
    }


def test_tools_calls_and_results_are_translated() -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    call = ToolCall("call_0", "get_weather", '{"city": "Oslo"}')
    body = body_of(
        request(
            Message("user", "Weather in Oslo?"),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "12 C, rain", tool_call_id="call_0"),
            tools=[weather],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    )
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "parameters": weather["function"]["parameters"],  # type: ignore[index]
                }
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert body["contents"][1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_0"}}
        ],
    }
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "get_weather",
                    "response": {"result": "12 C, rain"},
                    "id": "call_0",
                }
            }
        ],
    }


def test_a_tool_result_without_its_call_is_refused_naming_the_message() -> None:
    with pytest.raises(BadInputError, match=r"messages\[1\]") as caught:
        CODEC.encode(request(Message("user", "x"), Message("tool", "r", tool_call_id="nope")))
    assert caught.value.field == "messages[1].tool_call_id"


def test_images_are_inline_data_or_file_data() -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    body = body_of(request(Message.coerce({"role": "user", "content": parts})))
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg"}},
    ]


def test_a_structured_answer_is_asked_as_json_with_the_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    config = body_of(request(response_format=schema))["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    any_object = body_of(request(response_format={"type": "json_object"}))["generationConfig"]
    assert any_object == {"responseMimeType": "application/json"}


def test_extra_fields_go_through_and_win() -> None:
    thinking = {"thinkingConfig": {"thinkingBudget": 0}}
    body = body_of(request(generationConfig=thinking, safetySettings=[]))
    assert body["generationConfig"] == thinking and body["safetySettings"] == []


# -- answers ---------------------------------------------------------------------------------

# Shape recorded in https://docs.apiyi.com/en/api-capabilities/gemini/response-handling
# (a generateContent answer of gemini-3.1-flash-lite, with a thoughtSignature part).
PLAIN = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [{"text": "1+1 equals 2.", "thoughtSignature": "EjQKMgEM"}],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {"promptTokenCount": 15, "candidatesTokenCount": 6, "totalTokenCount": 21},
    "modelVersion": "gemini-3.1-flash-lite",
    "responseId": "Il0taoSYJ5Cez7",
}


def test_a_plain_answer_decodes() -> None:
    response = decode(PLAIN)
    assert response.text == "1+1 equals 2." and response.finish_reason == "stop"
    assert response.usage == Usage(15, 6)
    assert response.model == "gemini/gemini-2.5-flash" and response.provider == "gemini"


def test_thinking_and_cached_tokens_are_parts_of_the_counts() -> None:
    answer = {
        **PLAIN,
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "I should add the numbers.", "thought": True},
                        {"text": "2"},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 1200,
            "cachedContentTokenCount": 1000,
            "candidatesTokenCount": 1,
            "thoughtsTokenCount": 120,
            "totalTokenCount": 1321,
        },
    }
    response = decode(answer)
    assert response.text == "2"  # a thought summary is not answer text
    assert response.usage == Usage(1200, 121, cached_tokens=1000, reasoning_tokens=120)


def test_a_function_call_answer_decodes_with_a_stable_id() -> None:
    # shape of https://ai.google.dev/gemini-api/docs/function-calling (REST response)
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                        {"functionCall": {"name": "get_time", "args": {}, "id": "fc-9"}},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 10},
    }
    response = decode(answer)
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls == (
        ToolCall("call_0", "get_weather", '{"city":"Oslo"}'),
        ToolCall("fc-9", "get_time", "{}"),
    )


def test_max_tokens_is_length() -> None:
    answer = {**PLAIN, "candidates": [{**PLAIN["candidates"][0], "finishReason": "MAX_TOKENS"}]}  # type: ignore[dict-item]
    assert decode(answer).finish_reason == "length"


def test_a_blocked_prompt_is_a_typed_error() -> None:
    # promptFeedback as in https://ai.google.dev/api/generate-content#PromptFeedback
    answer = {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True},
                {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
            ],
        },
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
    }
    with pytest.raises(ContentBlockedError) as caught:
        decode(answer)
    error = caught.value
    assert error.reason == "SAFETY" and error.categories == ("HARM_CATEGORY_HARASSMENT",)
    assert not error.retryable and "HARM_CATEGORY_HARASSMENT" in str(error)


def test_an_answer_stopped_by_a_filter_with_nothing_in_it_is_a_typed_error() -> None:
    answer = {
        "candidates": [
            {
                "finishReason": "PROHIBITED_CONTENT",
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "MEDIUM"}
                ],
            }
        ]
    }
    with pytest.raises(ContentBlockedError) as caught:
        decode(answer)
    assert caught.value.categories == ("HARM_CATEGORY_DANGEROUS_CONTENT",)
    # with text already in it, the answer is kept and its finish says why it stopped
    kept = {"candidates": [{**answer["candidates"][0], "content": {"parts": [{"text": "Part"}]}}]}
    response = decode(kept)
    assert response.text == "Part" and response.finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"not json", "body"),
        ([1], "body"),
        ({"candidates": {"x": 1}}, "candidates"),
        ({"candidates": [{"content": {"parts": [7]}}]}, "candidates[0].content.parts[0]"),
        ({"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]}, "name"),
        ({"candidates": [], "usageMetadata": {"promptTokenCount": -1}}, "promptTokenCount"),
    ],
)
def test_a_malformed_answer_is_a_typed_error_naming_the_field(body: Any, where: str) -> None:
    with pytest.raises(ResponseFormatError, match=where.replace("[", r"\[").replace("]", r"\]")):
        decode(body)


# -- errors ----------------------------------------------------------------------------------

# Recorded in https://github.com/google-gemini/gemini-cli/issues/8437 (a free-tier 429:
# per-minute and per-day quotas listed together), with the RetryInfo detail the API adds.
FREE_TIER_REQUESTS = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
QUOTA_429 = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": FREE_TIER_REQUESTS,
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    },
                    {
                        "quotaMetric": FREE_TIER_REQUESTS,
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    },
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
        ],
    }
}


def test_a_429_waits_as_long_as_its_retry_info_says() -> None:
    error = decode(QUOTA_429, status=429)
    assert isinstance(error, RateLimitedError)
    assert error.retryable and error.retry_after == 37.0
    assert error.error_type == "RESOURCE_EXHAUSTED" and "exceeded your current quota" in str(error)


def test_a_retry_after_header_wins_over_the_body() -> None:
    error = decode(QUOTA_429, status=429, headers={"retry-after": "5"})
    assert error.retry_after == 5.0


def test_a_429_of_per_day_quotas_only_is_not_retryable() -> None:
    daily = json.loads(json.dumps(QUOTA_429))
    del daily["error"]["details"][0]["violations"][0]
    error = decode(daily, status=429)
    assert not error.retryable


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(400, "INVALID_ARGUMENT", False), (500, "INTERNAL", True), (503, "UNAVAILABLE", True)],
)
def test_errors_keep_their_status_word(status: int, kind: str, retryable: bool) -> None:
    body = {"error": {"code": status, "message": "m", "status": kind}}
    error = decode(body, status=status)
    assert isinstance(error, ProviderError)
    assert error.error_type == kind and error.retryable is retryable and error.status == status


def test_a_vertex_error_list_and_a_proxy_page_are_read() -> None:
    # Vertex AI wraps the error object in a list (https://github.com/google-gemini/gemini-cli/issues/14831)
    vertex = [
        {"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}
    ]
    assert decode(vertex, status=429).error_type == "RESOURCE_EXHAUSTED"
    page = decode(b"<html><title>502 Bad Gateway</title></html>", status=502)
    assert "502 Bad Gateway" in str(page) and page.retryable


def test_a_wrong_key_answered_as_a_400_is_an_authentication_error() -> None:
    # Google answers a wrong key with 400 INVALID_ARGUMENT and an ErrorInfo reason; the
    # body as reported in https://github.com/continuedev/continue/issues/8516 (list-wrapped)
    body = [
        {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": "API key not valid. Please pass a valid API key.",
                    },
                ],
            }
        }
    ]
    error = decode(body, status=400)
    assert isinstance(error, AuthenticationError)
    assert (error.status, error.error_type, error.retryable) == (400, "INVALID_ARGUMENT", False)


# kind -> (error class, retryable, retry_after) the mock server's Gemini faults read as
MOCK_FAULTS: dict[str, tuple[type[ProviderError], bool, float | None]] = {
    "rate_limit": (RateLimitedError, True, 2.5),
    "rate_limit_bare": (RateLimitedError, True, None),
    "rate_limit_zero": (RateLimitedError, True, 0.0),
    "quota": (RateLimitedError, False, 20.0),
    "server_error": (ProviderError, True, None),
    "overloaded": (ProviderError, True, None),
    "bad_request": (ProviderError, False, None),
    "auth": (AuthenticationError, False, None),
}


@pytest.mark.parametrize("kind", sorted(MOCK_FAULTS))
def test_the_mock_servers_gemini_faults_read_as_their_kind(kind: str) -> None:
    """The mock's Gemini error bodies mean to this codec what each fault kind means."""
    from sluicegate.testing.faults import fault_reply

    reply = fault_reply(kind, "gemini", retry_after_s=2.5)  # type: ignore[arg-type]
    error = decode(reply.body, status=reply.status, headers=dict(reply.headers))
    cls, retryable, retry_after = MOCK_FAULTS[kind]
    assert type(error) is cls
    assert (error.retryable, error.retry_after) == (retryable, retry_after)
