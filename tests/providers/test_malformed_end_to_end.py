"""Malformed answers from a real (hostile) HTTP server, through a real client, on both
backends and on the "auto" (native), httpx2 and aiohttp (asyncio only) transports:
each is a typed error naming the field, and negative usage never reaches the ledger or a
budget (issue 10)."""

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
    openai_answer,
)
from sluicegate import Budget, Client, ProviderSettings
from sluicegate.cost.prices import ModelPrice
from sluicegate.errors import BudgetExceededError, ResponseFormatError, StreamError

pytestmark = pytest.mark.anyio

KEY = "sk-decode-e2e-0123456789abcdef"
DEEP = b"[" * 100_000 + b"]" * 100_000


@behaviour("deep-json")
async def _deep_json(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(200, DEEP))


@behaviour("usage-1e999")
async def _usage_overflow(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    body = json.dumps(openai_answer(usage={"prompt_tokens": 3, "completion_tokens": 1}))
    await stream.send(
        json_response(200, body.replace('"prompt_tokens": 3', '"prompt_tokens": 1e999').encode())
    )


@behaviour("negative-usage")
async def _negative_usage(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    usage = {"prompt_tokens": -1_000_000, "completion_tokens": 1}
    await stream.send(json_response(200, openai_answer(usage=usage)))


@behaviour("bad-utf8")
async def _bad_utf8(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(200, b'{"choices": [{"message": {"content": "\xff\xfe"}}]}'))


def sse(*events: Any) -> bytes:
    head = http_head(200, {"content-type": "text/event-stream"})
    body = b"".join(
        b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n"
        for e in events
    )
    return head + body


@behaviour("stream-usage-string")
async def _stream_usage_string(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(
        sse(
            {"choices": [{"index": 0, "delta": {"content": "hel"}}]},
            {"choices": [], "usage": {"prompt_tokens": "many", "completion_tokens": 1}},
            b"[DONE]",
        )
    )


@behaviour("stream-wrong-shape")
async def _stream_wrong_shape(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(
        sse(
            {"choices": [{"index": 0, "delta": {"content": "hel"}}]},
            {"choices": {"0": 1}},
            b"[DONE]",
        )
    )


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        yield running


@pytest.fixture(params=["auto", "httpx2", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def client(server: HostileServer, transport: str, **kwargs: Any) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url=server.base_url, api_key=KEY)},
        transport=transport,
        load_entry_points=False,
        disable=["retry"],
        timeout=20.0,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ("deep-json", "nested too deeply"),
        ("usage-1e999", "usage.prompt_tokens"),
        ("negative-usage", "usage.prompt_tokens"),
        ("bad-utf8", "UTF-8"),
    ],
)
async def test_a_malformed_body_is_a_response_format_error(
    anyio_backend: str, server: HostileServer, transport: str, model: str, says: str
) -> None:
    async with client(server, transport) as c:
        with pytest.raises(ResponseFormatError) as info:
            await c.chat(f"openai/{model}", "hi")
    assert info.value.model == model and info.value.provider == "openai"
    assert says in info.value.message and KEY not in info.value.message


@pytest.mark.parametrize(
    ("model", "says"),
    [("stream-usage-string", "usage.prompt_tokens"), ("stream-wrong-shape", "choices:")],
)
async def test_a_malformed_stream_event_is_a_stream_error_keeping_the_text(
    anyio_backend: str, server: HostileServer, transport: str, model: str, says: str
) -> None:
    pieces: list[str] = []
    async with client(server, transport) as c:
        with pytest.raises(StreamError) as info:
            async with c.stream(f"openai/{model}", "hi") as stream:
                async for piece in stream.text_chunks():
                    pieces.append(piece)
    error = info.value
    assert "malformed stream event" in error.message and says in error.message
    assert error.partial_text == "hel" == "".join(pieces)
    assert error.model == model and error.retryable


async def test_negative_usage_is_refused_and_never_frees_budget(
    anyio_backend: str, server: HostileServer, transport: str
) -> None:
    """-1,000,000 tokens at $10 per million was a cost of -$10: the ledger went negative
    and a budget of $0.001 kept spending. Now the answer is an error and costs nothing."""
    budget = Budget(0.001, name="tiny")
    prices = [
        ModelPrice("openai/negative-usage", 10.0, 10.0),
        ModelPrice("openai/honest", 10.0, 10.0),
    ]
    async with client(server, transport, budget=budget, prices=prices) as c:
        for _ in range(3):
            with pytest.raises(ResponseFormatError, match=r"usage\.prompt_tokens"):
                await c.chat("openai/negative-usage", "hi", max_tokens=5)
        assert c.ledger.total_cost == 0.0 and budget.spent == 0.0
        answered = 0
        with pytest.raises(BudgetExceededError):
            for _ in range(100):
                response = await c.chat("openai/honest", "hi", max_tokens=5)
                assert response.cost == pytest.approx(4e-5)  # 3 in, 1 out at $10/Mtok
                answered += 1
        snapshot = c.ledger.snapshot()
    assert 0 < budget.spent <= budget.limit
    assert snapshot.total.cost == pytest.approx(answered * 4e-5) and snapshot.total.cost >= 0
    assert answered < 100  # the budget stopped the client
