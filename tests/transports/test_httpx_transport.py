"""The httpx transport sends to the URL each request names, parsing each URL only once.

Why the parsing is tested: httpx parses a string URL on every request (~10 µs, ~1 % of a
request's CPU at 256 in flight on trio), and bench/http_clients.py holds sluicegate on
trio to 90 % of raw httpx2's throughput; the parsed URL must also never leak from one
request to another, and the cache must stay bounded.
"""

from __future__ import annotations

import httpx2
import pytest

from sluicegate.transports.base import HttpRequest
from sluicegate.transports.httpx_client import _MAX_URLS, HttpxTransport

pytestmark = pytest.mark.anyio


async def test_each_request_goes_to_its_own_url_and_each_url_is_parsed_once() -> None:
    seen: list[tuple[str, bytes, str]] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append((str(request.url), request.content, request.headers["x-n"]))
        return httpx2.Response(200, json={"ok": True})

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as client:
        transport = HttpxTransport(client, owns_client=False)
        urls = ["http://127.0.0.1:9/v1/chat/completions", "http://127.0.0.1:9/v1/other?x=1"]
        for n in range(4):
            response = await transport.send(
                HttpRequest("POST", urls[n % 2], {"x-n": str(n)}, f"body {n}".encode())
            )
            assert response.status == 200 and response.body == b'{"ok":true}'
        assert seen == [(urls[n % 2], f"body {n}".encode(), str(n)) for n in range(4)]
        assert transport._url(urls[0]) is transport._url(urls[0])  # parsed once, then reused
        for n in range(_MAX_URLS + 10):  # a caller inventing URLs cannot grow it forever
            transport._url(f"http://127.0.0.1:9/v1/{n}")
        assert len(transport._urls) <= _MAX_URLS
