"""The Anthropic provider's base URL and key are checked as every provider's are: an
unusable one is a ConfigError when the client is built, naming ``anthropic`` and the
setting, and the mock server sees no request. Both backends, transports auto and httpx2."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

import sluicegate
from sluicegate import ConfigError, ProviderSettings
from sluicegate.testing import serve_mock
from sluicegate_anthropic import plugin

pytestmark = pytest.mark.anyio

KEY = "anthropic-test-key-0123456789"


def _client(base_url: str, api_key: str, transport: str) -> sluicegate.Client:
    return sluicegate.Client(
        providers={"anthropic": ProviderSettings(base_url=base_url, api_key=api_key)},
        plugins=[plugin],
        load_entry_points=False,
        transport=transport,
    )


@pytest.mark.parametrize("transport", ["auto", "httpx2"])
async def test_an_unusable_base_url_or_key_is_refused_before_anything_is_sent(
    anyio_backend: str, transport: str
) -> None:
    async with serve_mock() as server:
        netloc = urlsplit(server.base_url).netloc
        cases = [
            (f"http://u:{KEY}@{netloc}", KEY, "base_url .* a key belongs in"),
            (f"ftp://{netloc}", KEY, "base_url .* must start with http"),
            ("http://[::1", KEY, "base_url .* not a valid URL"),
            ("http://127.0.0.1:99999", KEY, "base_url .* invalid port"),
            (server.base_url, KEY + "\r\n", "api_key contains a line break"),
            (server.base_url, "\x00" + KEY, "api_key contains a NUL"),
        ]
        for base_url, key, says in cases:
            client = _client(base_url, key, transport)
            with pytest.raises(ConfigError, match=f"provider 'anthropic': {says}") as caught:
                async with client:
                    await client.chat("anthropic/claude-mock", "hi", max_tokens=5)
            assert KEY not in str(caught.value)
        assert sum(server.stats.by_path.values()) == 0
        async with _client(server.base_url, KEY, transport) as client:  # the control
            await client.chat("anthropic/claude-mock", "hi", max_tokens=5)
        assert server.stats.by_path["/v1/messages"] == 1
