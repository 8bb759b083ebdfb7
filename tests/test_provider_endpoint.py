"""An unusable base URL or key is a ConfigError when the client is built: it names the
provider and the setting (or its environment variable), never shows the key, and nothing
is sent (so nothing is retried). Every async test runs on asyncio and trio, over the
transports "auto" (native), "httpx2" and "aiohttp" (asyncio only)."""

from __future__ import annotations

import pytest

from hostile_server import hostile_server
from sluicegate import (
    AuthenticationError,
    Client,
    ConfigError,
    ProviderSettings,
    ProviderSpec,
    Secret,
    hookimpl,
)
from sluicegate.providers.endpoint import check_api_key, check_base_url, key_variable
from sluicegate.providers.mock import SPEC as MOCK
from sluicegate.providers.openai import SPEC as OPENAI

KEY = "valid-looking-key-0123456789abcdef"


def _bad_urls(port: int) -> list[tuple[str, str]]:
    """(base URL, what the message must say) for a server listening on ``port``."""
    return [
        (f"ftp://127.0.0.1:{port}/v1", "must start with http:// or https://"),
        (f"127.0.0.1:{port}/v1", "must start with http:// or https://"),
        (f"//127.0.0.1:{port}/v1", "must start with http:// or https://"),
        ("http://127.0.0.1:99999/v1", "invalid port"),
        ("http://127.0.0.1:0/v1", "invalid port"),
        ("http://127.0.0.1:http/v1", "invalid port"),
        (f"http://user:{KEY}@127.0.0.1:{port}/v1", "a key belongs in"),
        (f"http://{KEY}@127.0.0.1:{port}/v1", "a key belongs in"),
        ("http://[::1", "not a valid URL"),
        ("http:///v1", "names no host"),
        (f"http://127.0.0.1:{port}/v1\n", "whitespace or a control character"),
        (f" http://127.0.0.1:{port}/v1", "whitespace or a control character"),
    ]


BAD_KEYS = [
    ("abc\r\ndef-key-value", "a line break"),
    ("abcdef-key-value\n", "a line break"),
    ("abc\x00def-key-value", "a NUL character"),
    ("abc\x1bdef-key-value", "a control character"),
    (" abcdef-key-value", "leading or trailing whitespace"),
    ("abcdef-key-value\t", "a control character"),
    ("abcdef-kéy-value", "outside ASCII"),
]


@pytest.mark.parametrize("index", range(len(_bad_urls(1))))
def test_check_base_url_refuses_what_no_transport_can_use(index: int) -> None:
    url, says = _bad_urls(8000)[index]
    with pytest.raises(ConfigError, match=says) as caught:
        check_base_url(url, setting="provider 'x': base_url", key_hint="X_API_KEY")
    assert "provider 'x': base_url" in str(caught.value)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "https://api.openai.com/v1",
        "HTTPS://api.anthropic.com",
        "http://[::1]:8080/v1/",
        "http://localhost/",
        "http://mock.sluicegate.invalid/v1",
    ],
)
def test_check_base_url_accepts_usable_urls(url: str) -> None:
    check_base_url(url, setting="base_url")


@pytest.mark.parametrize(("key", "says"), BAD_KEYS)
def test_check_api_key_refuses_what_a_header_cannot_carry(key: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        check_api_key(Secret(key), setting="provider 'x': api_key")
    text = str(caught.value) + repr(caught.value)
    assert "provider 'x': api_key" in text
    assert key.strip() not in text and "def-key" not in text and "kéy" not in text


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx2", "aiohttp"])
async def test_a_bad_base_url_is_refused_at_build_and_nothing_is_sent(
    anyio_backend: str, transport: str
) -> None:
    with hostile_server() as server:
        for url, says in _bad_urls(server.port):
            client = Client(
                providers={"openai": ProviderSettings(base_url=url, api_key=KEY)},
                transport=transport,
                load_entry_points=False,
            )
            with pytest.raises(ConfigError, match=says) as caught:
                async with client:
                    await client.chat("openai/m", "hi")
            message = str(caught.value)
            assert "provider 'openai': base_url" in message, message
            assert KEY not in message and KEY not in repr(caught.value)
        assert server.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx2", "aiohttp"])
async def test_a_key_with_control_characters_is_refused_at_build_and_nothing_is_sent(
    anyio_backend: str, transport: str
) -> None:
    with hostile_server() as server:
        for key, says in BAD_KEYS:
            client = Client(
                providers={"openai": ProviderSettings(base_url=server.base_url, api_key=key)},
                transport=transport,
                load_entry_points=False,
            )
            with pytest.raises(ConfigError, match=says) as caught:
                async with client:
                    await client.chat("openai/m", "hi")
            assert "provider 'openai': api_key" in str(caught.value)
            assert "def-key" not in str(caught.value) and "kéy" not in str(caught.value)
        assert server.requests == []


@pytest.mark.anyio
async def test_values_from_the_environment_are_checked_and_named_by_variable(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hostile_server() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://u:p@127.0.0.1:{server.port}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        with pytest.raises(ConfigError, match=r"base_url \(from OPENAI_BASE_URL\)") as caught:
            async with Client(load_entry_points=False) as client:
                await client.chat("openai/m", "hi")
        assert "a key belongs in ProviderSettings(api_key=...) or OPENAI_API_KEY" in str(
            caught.value
        )
        assert "u:p" not in str(caught.value)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY + "\n")
        with pytest.raises(ConfigError, match=r"api_key \(from OPENAI_API_KEY\) contains a line"):
            async with Client(load_entry_points=False) as client:
                await client.chat("openai/m", "hi")
        # a compatible server under a name of its own reads NAME_BASE_URL / NAME_API_KEY
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("LOCAL_LLM_BASE_URL", "localhost:8000")
        local = {"local-llm": ProviderSettings(kind="openai", api_key=KEY)}
        with pytest.raises(ConfigError, match=r"'local-llm': base_url \(from LOCAL_LLM_BASE_URL"):
            async with Client(providers=local, load_entry_points=False) as client:
                await client.chat("local-llm/m", "hi")
        assert server.requests == []


def test_the_key_variable_rule() -> None:
    """One rule, read by key resolution and by the auth stage's message alike."""
    assert key_variable("openai", OPENAI) == "OPENAI_API_KEY"  # the spec's own
    assert key_variable("my-vllm", OPENAI) == "MY_VLLM_API_KEY"  # a name of the user's
    assert key_variable("mock", MOCK) is None  # the spec reads none


class _NoVariablePlugin:
    """A kind that needs a key but names no environment variable for it."""

    @hookimpl
    def sluicegate_providers(self) -> list[ProviderSpec]:
        return [ProviderSpec("keyed", OPENAI.factory, "http://127.0.0.1:9/v1")]


@pytest.mark.anyio
async def test_a_missing_key_names_only_what_would_be_read(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYED_API_KEY", KEY)  # not read: the spec names no variable
    async with Client(plugins=[_NoVariablePlugin()], load_entry_points=False) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.chat("keyed/m", "hi")
    assert "no API key: pass providers={'keyed': ProviderSettings(api_key=...)}" in str(
        caught.value
    )
    assert "KEYED_API_KEY" not in str(caught.value)
