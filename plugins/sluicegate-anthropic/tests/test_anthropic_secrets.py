"""A key the server echoes reaches no attribute of the errors the Anthropic provider
raises (nor their pickles): a 401 body, a 429's rate-limit headers, a 529 body, an
``error`` event in a stream. Over tests/hostile_server.py, on both backends, transports
auto and httpx2; the walker is tests/secret_walk.py, shared with sluicegate's own test."""

from __future__ import annotations

import json

import anyio.abc
import pytest

import sluicegate
from hostile_server import RawRequest, behaviour, hostile_server, http_head, json_response
from secret_walk import assert_key_absent
from sluicegate import ProviderSettings, SluicegateError
from sluicegate_anthropic import plugin

pytestmark = pytest.mark.anyio

ECHOED = "anthropic-echoed-ABCDEFGHIJKLMNOPQRS"


def _error_body(message: str, kind: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": ECHOED}


@behaviour("claude-secret-401")
async def _echo_401(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    body = _error_body(f"invalid x-api-key {ECHOED}", "authentication_error")
    await stream.send(json_response(401, body))


@behaviour("claude-secret-429")
async def _echo_429(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    headers = {"retry-after": "0", "anthropic-ratelimit-requests-key": ECHOED}
    await stream.send(json_response(429, _error_body("slow down", "rate_limit_error"), headers))


@behaviour("claude-secret-529")
async def _echo_529(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(529, f"<html>overloaded for {ECHOED}</html>".encode()))


@behaviour("claude-secret-stream")
async def _echo_in_stream(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    start = {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}}
    error = _error_body(f"key {ECHOED} revoked", "overloaded_error")
    body = (
        f"event: message_start\ndata: {json.dumps(start)}\n\n"
        f"event: error\ndata: {json.dumps(error)}\n\n"
    ).encode()
    await stream.send(http_head(200, {"content-type": "text/event-stream"}) + body)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    "model", ["claude-secret-401", "claude-secret-429", "claude-secret-529", "claude-secret-stream"]
)
@pytest.mark.parametrize("transport", ["auto", "httpx2"])
async def test_no_attribute_of_an_anthropic_error_holds_an_echoed_key(
    anyio_backend: str, transport: str, model: str, stream: bool
) -> None:
    with hostile_server() as server:
        base_url = server.base_url.removesuffix("/v1")
        client = sluicegate.Client(
            providers={"anthropic": ProviderSettings(base_url=base_url, api_key=ECHOED)},
            plugins=[plugin],
            load_entry_points=False,
            transport=transport,
            stage_settings={"retry": {"attempts": 2, "instant": True}},
        )
        with pytest.raises(SluicegateError) as caught:
            async with client:
                if stream:
                    async with client.stream(f"anthropic/{model}", "hi", max_tokens=5) as events:
                        async for _ in events:
                            pass
                else:
                    await client.chat(f"anthropic/{model}", "hi", max_tokens=5)
    assert_key_absent(caught.value, ECHOED)
