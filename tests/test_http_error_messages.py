"""An HTTP error whose body is not the provider's JSON (a proxy's HTML 502 page, a
gateway's plain text) becomes a one-line message: the page's <title> or first non-empty
line, shortened, after the status; never the raw page spread over many lines."""

from __future__ import annotations

from collections.abc import Iterator

import anyio.abc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostile_server import HostileServer, RawRequest, behaviour, hostile_server, http_head
from sluicegate import Client, ProviderSettings
from sluicegate.errors import ProviderError
from sluicegate.providers.http_errors import excerpt

pytestmark = pytest.mark.anyio

KEY = "sk-hostile-html-0123456789abcdef"

NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    b"</body>\r\n</html>\r\n" + b"<!-- a padding comment to defeat IE's friendly pages -->\r\n" * 6
)
ENVOY_503 = (
    b"\n\nupstream connect error or disconnect/reset before headers.\nreset reason: overflow\n"
)
LONG_TITLE = b"<!DOCTYPE html><html><head><title>\n  " + b"Service Unavailable " * 40 + b"</title>"


def _page(status: int, body: bytes, content_type: str) -> bytes:
    head = {"content-type": content_type, "content-length": str(len(body))}
    return http_head(status, head) + body


@behaviour("html-502")
async def _html_502(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(_page(502, NGINX_502, "text/html"))


@behaviour("text-503")
async def _text_503(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(_page(503, ENVOY_503, "text/plain"))


@behaviour("long-title-503")
async def _long_title(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(_page(503, LONG_TITLE, "text/html"))


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        yield running


@pytest.fixture(params=["auto", "httpx2", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _error_of(server: HostileServer, transport: str, model: str) -> ProviderError:
    async with Client(
        providers={"openai": ProviderSettings(base_url=server.base_url, api_key=KEY)},
        transport=transport,
        load_entry_points=False,
        disable=["retry"],
    ) as client:
        with pytest.raises(ProviderError) as caught:
            await client.chat(f"openai/{model}", "hi")
    return caught.value


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("html-502", "openai/html-502: HTTP 502: 502 Bad Gateway"),
        (
            "text-503",
            "openai/text-503: HTTP 503: upstream connect error or disconnect/reset before headers.",
        ),
    ],
)
async def test_a_non_json_error_page_is_one_line_with_its_status(
    server: HostileServer, transport: str, anyio_backend: str, model: str, expected: str
) -> None:
    error = await _error_of(server, transport, model)
    assert error.status == int(model.split("-")[-1])
    assert error.message == expected
    assert "\n" not in error.message and "<" not in error.message


async def test_a_long_title_is_shortened_to_about_200_characters(
    server: HostileServer, transport: str, anyio_backend: str
) -> None:
    error = await _error_of(server, transport, "long-title-503")
    assert error.message.startswith("openai/long-title-503: HTTP 503: Service Unavailable ")
    assert error.message.endswith("…") and "\n" not in error.message
    assert len(error.detail) <= 201


def test_the_excerpt_of_an_error_page() -> None:
    assert excerpt(NGINX_502) == "502 Bad Gateway"
    assert excerpt(b"<html><body><h1>Oops</h1>\n<p>try later</p></body></html>") == "Oops"
    assert excerpt(b"<title>Fish &amp; Chips</title>") == "Fish & Chips"
    assert excerpt(b"\r\n  \r\nBad gateway\r\nmore\r\n") == "Bad gateway"
    assert excerpt(b"") == "" and excerpt(b"   \n\t") == ""
    assert excerpt(b"x" * 500) == "x" * 200 + "…"


@given(st.binary(max_size=2000))
def test_any_body_gives_one_short_line(body: bytes) -> None:
    text = excerpt(body)
    assert len(text) <= 201
    assert not any(c in text for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    assert text == text.strip()
