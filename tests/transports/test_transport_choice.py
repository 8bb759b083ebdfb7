"""Which transport ``"auto"`` resolves to: the native one on both loops, httpx2 when the
environment names a proxy (the native transport speaks to servers directly), and the
user's own choice or client as given."""

from __future__ import annotations

import pytest

from sluicegate.errors import ConfigError
from sluicegate.transports import make_transport
from sluicegate.transports.base import TransportOptions
from sluicegate.transports.httpx_client import HttpxTransport
from sluicegate.transports.native import NativeTransport

pytestmark = pytest.mark.anyio

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_auto_is_native_on_either_loop(no_proxy_environment: pytest.MonkeyPatch) -> None:
    transport = make_transport("auto", TransportOptions())
    try:
        assert isinstance(transport, NativeTransport)
    finally:
        await transport.aclose()


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
async def test_auto_is_httpx2_when_a_proxy_is_configured(
    no_proxy_environment: pytest.MonkeyPatch, variable: str
) -> None:
    no_proxy_environment.setenv(variable, "http://127.0.0.1:3128")
    transport = make_transport("auto", TransportOptions())
    try:
        assert isinstance(transport, HttpxTransport)
    finally:
        await transport.aclose()


async def test_an_explicit_native_choice_ignores_the_proxy_variables(
    no_proxy_environment: pytest.MonkeyPatch,
) -> None:
    no_proxy_environment.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    transport = make_transport("native", TransportOptions())
    try:
        assert isinstance(transport, NativeTransport)
    finally:
        await transport.aclose()


async def test_an_unknown_transport_name_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="warp"):
        make_transport("warp", TransportOptions())
