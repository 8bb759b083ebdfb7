"""Malformed Messages API answers from a real (hostile) HTTP server, through a real
client, on both backends and on the "auto" and httpx2 transports: a typed error naming the
field, the text of a stream kept, negative usage never priced (issue 10)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio.abc
import pytest

from hostile_server import (
    HostileServer,
    RawRequest,
    behaviour,
    hostile_server,
    http_head,
    json_response,
)
from sluicegate import Budget, Client, ProviderSettings
from sluicegate.cost.prices import ModelPrice
from sluicegate.errors import ResponseFormatError, StreamError
from sluicegate_anthropic import plugin

pytestmark = pytest.mark.anyio

KEY = "sk-ant-decode-e2e-0123456789abcdef"


def message(usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "content": [{"type": "text", "text": "ok"}], "usage": usage}


@behaviour("claude-deep-json")
async def _deep(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(200, b'{"content": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))


@behaviour("claude-negative-usage")
async def _negative(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(200, message({"input_tokens": -1_000_000, "output_tokens": 1})))


@behaviour("claude-bad-utf8")
async def _bad_utf8(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(200, b'{"content": [{"type": "text", "text": "\xc3\x28"}]}'))


@behaviour("claude-stream-bad-usage")
async def _stream(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hel"}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 1e999},
        },
        {"type": "message_stop"},
    ]
    body = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    await stream.send(http_head(200, {"content-type": "text/event-stream"}) + body)


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        yield running


@pytest.fixture(params=["auto", "httpx2"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def client(server: HostileServer, transport: str, **kwargs: Any) -> Client:
    return Client(
        providers={
            "anthropic": ProviderSettings(base_url=f"http://127.0.0.1:{server.port}", api_key=KEY)
        },
        plugins=[plugin],
        transport=transport,
        load_entry_points=False,
        disable=["retry"],
        timeout=20.0,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ("claude-deep-json", "nested too deeply"),
        ("claude-negative-usage", "usage.input_tokens"),
        ("claude-bad-utf8", "UTF-8"),
    ],
)
async def test_a_malformed_message_is_a_response_format_error(
    anyio_backend: str, server: HostileServer, transport: str, model: str, says: str
) -> None:
    async with client(server, transport) as c:
        with pytest.raises(ResponseFormatError) as info:
            await c.chat(f"anthropic/{model}", "hi", max_tokens=5)
    assert info.value.model == model and info.value.provider == "anthropic"
    assert says in info.value.message and KEY not in info.value.message


async def test_a_malformed_stream_event_is_a_stream_error_keeping_the_text(
    anyio_backend: str, server: HostileServer, transport: str
) -> None:
    pieces: list[str] = []
    async with client(server, transport) as c:
        with pytest.raises(StreamError) as info:
            async with c.stream("anthropic/claude-stream-bad-usage", "hi", max_tokens=5) as s:
                async for piece in s.text_chunks():
                    pieces.append(piece)
    assert "malformed stream event" in info.value.message
    assert "usage.output_tokens" in info.value.message
    assert info.value.partial_text == "hel" == "".join(pieces)


async def test_negative_usage_never_reaches_the_ledger_or_the_budget(
    anyio_backend: str, server: HostileServer, transport: str
) -> None:
    budget = Budget(0.001, name="tiny")
    prices = [ModelPrice("anthropic/claude-negative-usage", 10.0, 10.0)]
    async with client(server, transport, budget=budget, prices=prices) as c:
        for _ in range(3):
            with pytest.raises(ResponseFormatError):
                await c.chat("anthropic/claude-negative-usage", "hi", max_tokens=5)
        assert c.ledger.total_cost == 0.0
    assert budget.spent == 0.0 and budget.reserved == 0.0
