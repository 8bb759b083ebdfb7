"""API keys never show in a repr, an error message or a log line."""

from __future__ import annotations

import json
import pickle
import random
from typing import NoReturn
from urllib.parse import quote

import anyio.abc
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from hostile_server import (
    RawRequest,
    behaviour,
    hostile_server,
    http_head,
    json_response,
    openai_answer,
)
from secret_walk import assert_key_absent, key_forms
from sluicegate import (
    Client,
    ProviderError,
    ProviderSettings,
    Secret,
    SluicegateError,
    configure_logging,
    redact_secrets,
)
from sluicegate.batch.api import BatchBinding, BatchLimits
from sluicegate.batch.http import BatchHttp
from sluicegate.clock import FakeClock
from sluicegate.errors import ResponseFormatError, StreamError, TransportError
from sluicegate.providers.base import BoundProvider
from sluicegate.providers.openai import SPEC as OPENAI
from sluicegate.secrets import scrub
from sluicegate.testing import ScriptedTransport
from sluicegate.transports.base import HttpRequest, TransportFailure

KEY = "sk-proj-SECRETSECRETSECRET1234567890"


def test_secret_repr_and_str_hide_the_value() -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret) and KEY not in str(secret) and KEY not in f"{secret}"
    assert secret.reveal() == KEY
    assert secret == Secret(KEY) and secret != Secret(KEY + "x")


def test_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(KEY))


def test_provider_settings_repr_hides_the_key() -> None:
    assert KEY not in repr(ProviderSettings(api_key=KEY))


def test_error_messages_are_scrubbed_even_when_the_server_echoes_the_key() -> None:
    Secret("plain-key-without-known-shape")
    error = ProviderError(
        "invalid key plain-key-without-known-shape and sk-abcdefghijklmnopqrstuvwx",
        provider="openai",
        model="m",
        status=401,
    )
    assert "plain-key-without-known-shape" not in str(error)
    assert "sk-abcdefghijklmnopqrstuvwx" not in repr(error)
    assert "***" in str(error)


def test_redact_processor_blanks_keys_in_nested_values() -> None:
    Secret(KEY)
    event = {"event": "x", "headers": {"authorization": f"Bearer {KEY}"}, "items": [KEY], "n": 3}
    out = redact_secrets(None, "info", event)
    assert KEY not in repr(out) and out["n"] == 3


def test_a_caller_logging_a_key_by_mistake_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        configure_logging("info")
        structlog.get_logger().info("oops", api_key="sk-ant-api03-abcdefghijklmnopqrstuvwxyz")
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "oops" in err and "sk-ant-api03-abcdefghijklmnopqrstuvwxyz" not in err


@given(
    st.text(min_size=8, max_size=40).filter(lambda k: "*" not in k),
    st.text(max_size=50),
    st.text(max_size=50),
)
def test_scrub_removes_every_known_key_wherever_it_stands(
    key: str, before: str, after: str
) -> None:
    from sluicegate import secrets

    saved = (set(secrets._known), secrets._known_pattern)
    try:
        Secret(key)
        assert key not in scrub(before + key + after)
    finally:
        secrets._known, secrets._known_pattern = saved


# -- every attribute of every error a hostile server can provoke ---------------------------
#
# Each scenario makes a server echo the key somewhere (an error body, a rate-limit header, a
# stream's error event, a redirect, a broken status line the transport quotes, a malformed
# answer a decoder quotes); the walker then visits everything the raised error holds and
# asserts the key is in none of it, in any form a server may echo it, nor in its pickle.

ECHOED = "echoed-key-ABCDEFGHIJKLMNOPQRSTUV"  # no provider's key shape: only a Secret scrubs it


@behaviour("secret-401")
async def _echo_401(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {ECHOED}", "type": "auth"}}
    await stream.send(json_response(401, body, {"x-request-id": f"req-{ECHOED}"}))


@behaviour("secret-429")
async def _echo_429(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    headers = {"retry-after": "0", "x-ratelimit-key": ECHOED, f"x-ratelimit-{ECHOED}": "1"}
    await stream.send(json_response(429, {"error": {"message": "slow down"}}, headers))


@behaviour("secret-500")
async def _echo_500(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(500, f"<html>upstream said {ECHOED}</html>".encode()))


@behaviour("secret-stream-error")
async def _echo_stream_error(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "par"}}]}
    error = {"error": {"message": f"key {ECHOED} revoked", "type": "auth", "code": ECHOED}}
    body = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(error)}\n\n".encode()
    await stream.send(http_head(200, {"content-type": "text/event-stream"}) + body)


@behaviour("secret-redirect")
async def _echo_redirect(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    where = f"http://127.0.0.1:9/login?key={quote(ECHOED, safe='')}"
    await stream.send(json_response(302, f"see {where}".encode(), {"location": where}))


@behaviour("secret-status-line")
async def _echo_in_status_line(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(f"HTTP/1.1 abc {ECHOED}\r\n\r\n".encode())


@behaviour("secret-malformed")
async def _echo_in_malformed_body(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(200, f'{{"key": "{ECHOED}", '.encode()))


SECRET_SCENARIOS = [
    "secret-401",
    "secret-429",
    "secret-500",
    "secret-stream-error",
    "secret-redirect",
    "secret-status-line",
    "secret-malformed",
]


async def _provoke(transport: str, model: str, *, stream: bool) -> list[BaseException]:
    """The errors (at least one) a call to ``model`` raises: the last attempt's, and the
    earlier ones it chains to."""
    with hostile_server() as server:
        async with Client(
            providers={"openai": ProviderSettings(base_url=server.base_url, api_key=ECHOED)},
            transport=transport,
            load_entry_points=False,
            stage_settings={"retry": {"attempts": 2, "instant": True}},
        ) as client:
            try:
                if stream:
                    async with client.stream(f"openai/{model}", "hi") as events:
                        async for _ in events:
                            pass
                else:
                    await client.chat(f"openai/{model}", "hi")
            except SluicegateError as error:
                return [error]
    return []


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model", SECRET_SCENARIOS)
@pytest.mark.parametrize("transport", ["auto", "httpx2", "aiohttp"])
async def test_no_attribute_of_an_error_holds_a_key_the_server_echoed(
    anyio_backend: str, transport: str, model: str, stream: bool
) -> None:
    errors = await _provoke(transport, model, stream=stream)
    assert errors, f"{model} raised nothing"
    for error in errors:
        assert_key_absent(error, ECHOED)


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx2", "aiohttp"])
async def test_a_successful_answer_keeps_no_key_echoed_in_its_rate_limit_headers(
    anyio_backend: str, transport: str
) -> None:
    with hostile_server() as server:
        async with Client(
            providers={"openai": ProviderSettings(base_url=server.base_url, api_key=ECHOED)},
            transport=transport,
            load_entry_points=False,
        ) as client:
            response = await client.chat("openai/secret-200-headers", "hi")
    assert response.text == "ok" and response.headers["x-ratelimit-remaining-requests"] == "9"
    assert not any(f in repr(dict(response.headers)) for f in key_forms(ECHOED))


@behaviour("secret-200-headers")
async def _echo_in_success_headers(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    headers = {"x-ratelimit-key": ECHOED, "x-ratelimit-remaining-requests": "9"}
    await stream.send(json_response(200, openai_answer(), headers))


def test_attributes_set_after_raising_and_in_place_changes_are_scrubbed_too() -> None:
    Secret(ECHOED)
    error = StreamError("cut", partial_text=f"the key is {ECHOED}", provider="p", model="m")
    error.cost = 0.5
    error.extra = {"nested": [f"x{ECHOED}x", (ECHOED,)]}  # type: ignore[attr-defined]
    error.add_note(f"note {ECHOED}")
    error.args = (f"args {ECHOED}",)
    with pytest.raises(TypeError):
        error.headers["x-ratelimit-key"] = ECHOED  # type: ignore[index]
    assert error.cost == 0.5
    assert_key_absent(error, ECHOED)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is StreamError and copy.partial_text == "the key is ***"


def test_a_foreign_exception_in_the_chain_is_cut_off() -> None:
    from sluicegate.errors import detach_foreign

    Secret(ECHOED)
    try:
        try:
            json.loads(f'{{"key": "{ECHOED}"')
        except ValueError:
            raise ResponseFormatError("malformed", provider="p", model="m") from None
    except ResponseFormatError as caught:
        error = caught
    assert isinstance(error.__context__, json.JSONDecodeError)  # what Python keeps
    detach_foreign(error)
    assert error.__context__ is None
    assert_key_absent(error, ECHOED)


def _fail_like_a_real_transport(request: HttpRequest) -> NoReturn:
    """Every call fails the way a real transport's does: a TransportFailure raised while
    handling the library's own exception, which quotes what the server sent."""
    try:
        raise ValueError(f"illegal status line: b'HTTP/1.1 abc {ECHOED}'")
    except ValueError as exc:
        raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None


@pytest.mark.anyio
async def test_a_batch_call_s_transport_error_keeps_no_foreign_context(anyio_backend: str) -> None:
    Secret(ECHOED)
    bound = BoundProvider(
        name="openai",
        spec=OPENAI,
        codec=OPENAI.factory("openai", "http://127.0.0.1:9/v1", {}),
        base_url="http://127.0.0.1:9/v1",
        transport=ScriptedTransport(_fail_like_a_real_transport),
    )
    binding = BatchBinding(
        bound, BatchLimits(max_requests=10, max_bytes=1000), FakeClock(), random.Random(0)
    )
    http = BatchHttp(binding, {}, attempts=1)
    for call in (
        http.call("GET", "http://127.0.0.1:9/v1/batches", what="batches"),
        http.open("http://127.0.0.1:9/v1/files/f/content", what="files"),
    ):
        with pytest.raises(TransportError) as caught:
            await call
        assert caught.value.__context__ is None
        assert_key_absent(caught.value, ECHOED)


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx2", "aiohttp"])
async def test_a_redirect_is_an_error_and_not_followed(anyio_backend: str, transport: str) -> None:
    """aiohttp follows redirects by default; neither transport may, or the request (and
    its key) would go wherever a server's Location says."""
    errors = await _provoke(transport, "secret-redirect", stream=False)
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, ProviderError) and error.status == 302, repr(error)
