"""A third-party provider whose codec writes no key and no Idempotency-Key still sends both.

The plugin (acme_provider.py) is written against ``sluicegate.plugins`` and ``sluicegate``
only; the dispatcher adds the key (as the spec's ``credential_header`` says), the
``Idempotency-Key`` and the caller's headers after ``encode``, on every attempt, plain and
streamed, so a retry carries the same key. What the transport receives is checked.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import anyio
import pytest

from sluicegate import Client, FakeClock, ProviderSettings
from sluicegate.plugins import HttpRequest, TransportFailure
from sluicegate.testing import Answer, ScriptedTransport

pytestmark = pytest.mark.anyio


PLUGIN_FILE = Path(__file__).with_name("acme_provider.py")


def _load_plugin() -> ModuleType:
    """acme_provider.py, loaded from beside this file: a plugin module as its author ships
    it (tests/plugins is not a package; ``plugins`` would be the repository's folder)."""
    spec = importlib.util.spec_from_file_location("acme_provider", PLUGIN_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


acme_provider = _load_plugin()

T = TypeVar("T")

KEY = "acme-key-0123456789abcdef"


OVERLOADED = Answer(503, {}, [b"overloaded"])
PLAIN = Answer.json(200, {"output": "hello from acme", "tokens": {"in": 3, "out": 4}})
STREAMED = Answer(
    200,
    {"content-type": "text/event-stream"},
    [
        b'event: delta\ndata: {"text": "hello "}\n\n',
        b'event: delta\ndata: {"text": "from acme"}\n\n',
        b'event: usage\ndata: {"in": 3, "out": 4}\n\nevent: end\ndata: {}\n\n',
    ],
)


def acme_answers(*, stream: bool, failures: int = 0) -> ScriptedTransport:
    """Acme's answer (a body, or an event stream) after ``failures`` 503s."""
    return ScriptedTransport(*[OVERLOADED] * failures, STREAMED if stream else PLAIN)


def acme_client(
    transport: ScriptedTransport, providers: dict[str, ProviderSettings], **kwargs: Any
) -> Client:
    return Client(
        providers=providers,
        plugins=[acme_provider],
        load_entry_points=False,
        transport=transport,
        **kwargs,
    )


async def ask(client: Client, model: str, *, stream: bool, **params: Any) -> str:
    """The answer's text, from a plain or a streamed call."""
    if not stream:
        return (await client.chat(model, "hi", **params)).text
    async with client.stream(model, "hi", **params) as events:
        return (await events.final_response()).text


async def sent_once(
    providers: dict[str, ProviderSettings], model: str, *, stream: bool, **params: Any
) -> HttpRequest:
    """The one request a call to ``model`` sent, answered at once."""
    transport = acme_answers(stream=stream)
    async with acme_client(transport, providers) as client:
        assert await ask(client, model, stream=stream, **params) == "hello from acme"
        assert KEY not in repr(client)
    [sent] = transport.requests
    return sent


async def jumping(clock: FakeClock, work: Callable[[], Awaitable[T]]) -> T:
    """``work()`` with ``clock`` jumping over every sleep (the retry's backoff)."""
    results: list[T] = []
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        results.append(await work())
        group.cancel_scope.cancel()
    return results[0]


def test_the_plugin_imports_only_the_public_modules() -> None:
    tree = ast.parse(PLUGIN_FILE.read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    ours = {name for name in imported if name and name.split(".")[0] == "sluicegate"}
    assert ours == {"sluicegate", "sluicegate.plugins"}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_the_key_idempotency_key_and_caller_headers_are_sent(stream: bool) -> None:
    providers = {"acme": ProviderSettings(api_key=KEY)}
    sent = await sent_once(providers, "acme/rocket-1", stream=stream, headers={"x-trace": "t-1"})
    assert sent.url == "https://api.acme.invalid/v1/generate"
    assert json.loads(sent.body) == {"model": "rocket-1", "prompt": "hi", "stream": stream}
    assert sent.headers["acme-version"] == acme_provider.ACME_VERSION  # the codec's own
    assert sent.headers["authorization"] == f"Bearer {KEY}"  # the spec's default
    assert sent.headers["idempotency-key"].startswith("sg-")  # generated, one per call
    assert sent.headers["x-trace"] == "t-1"  # the caller's
    assert KEY not in repr(sent)


@pytest.mark.parametrize("given", [None, "order-42"], ids=["generated", "callers"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_a_retried_attempt_carries_the_same_idempotency_key(
    stream: bool, given: str | None
) -> None:
    transport = acme_answers(stream=stream, failures=2)
    clock = FakeClock()
    params = {"idempotency_key": given} if given else {}
    providers = {"acme": ProviderSettings(api_key=KEY)}
    async with acme_client(transport, providers, clock=clock) as client:
        text = await jumping(clock, lambda: ask(client, "acme/rocket-1", stream=stream, **params))
    assert text == "hello from acme"
    keys = [r.headers["idempotency-key"] for r in transport.requests]
    assert keys == [given or keys[0]] * 3  # 503, 503, then the answer: one key throughout
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in transport.requests)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_a_declared_credential_header_is_used_instead_of_bearer(stream: bool) -> None:
    sent = await sent_once(
        {"acme-raw": ProviderSettings(api_key=KEY)}, "acme-raw/rocket-1", stream=stream
    )
    assert sent.headers["x-acme-key"] == KEY  # declared "X-Acme-Key", sent lower case
    assert "authorization" not in sent.headers
    assert sent.headers["idempotency-key"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_a_keyless_server_gets_no_key_header_and_still_an_idempotency_key(
    stream: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCAL_ACME_API_KEY", raising=False)
    local = ProviderSettings(
        kind="acme", base_url="http://127.0.0.1:9/v1", headers={"x-gateway": "on"}
    )
    sent = await sent_once({"local-acme": local}, "local-acme/rocket-1", stream=stream)
    assert sent.url == "http://127.0.0.1:9/v1/generate"
    assert "authorization" not in sent.headers
    assert sent.headers["x-gateway"] == "on"  # configured headers reach the codec
    assert sent.headers["idempotency-key"]


async def test_a_cut_connection_is_retried_with_the_same_key() -> None:
    """A failure below HTTP (the answer lost on the way) is what idempotency exists for."""
    transport = ScriptedTransport(TransportFailure("read", "connection reset"), PLAIN)
    clock = FakeClock()
    async with acme_client(transport, {"acme": ProviderSettings(api_key=KEY)}, clock=clock) as c:
        await jumping(clock, lambda: ask(c, "acme/rocket-1", stream=False))
    first, second = transport.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
