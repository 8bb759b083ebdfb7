"""The mock provider: the embedded default, with no key and no network.

It is the OpenAI codec pointed at sluicegate's own mock app, served in memory. So
``sluicegate fanout "hi" -m mock/fast -m mock/smart`` runs on a fresh machine through the
same chain, codec and decoder that a real provider uses. Pointing it at a running
``sluicegate mock-server`` (``SLUICEGATE_MOCK_BASE_URL`` or ``base_url=``) sends over real
HTTP instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.providers.base import ProviderSpec
from sluicegate.providers.openai import OpenAIProvider
from sluicegate.transports.base import Transport, TransportOptions
from sluicegate.transports.memory import ASGIApp, MemoryTransport

IN_MEMORY_BASE_URL = "http://mock.sluicegate.invalid/v1"


def _codec(name: str, base_url: str, headers: Mapping[str, str]) -> OpenAIProvider:
    return OpenAIProvider(base_url, headers, name=name)


def _mock_app() -> ASGIApp:
    from sluicegate.testing.mock_app import MockConfig, create_app

    app: ASGIApp = create_app(MockConfig(latency_s=0.02, per_token_latency_s=0.001))
    return app


def _memory_transport(options: TransportOptions) -> Transport:
    return MemoryTransport(app_factory=_mock_app, options=options)


SPEC = ProviderSpec(
    name="mock",
    factory=_codec,
    default_base_url=IN_MEMORY_BASE_URL,
    base_url_env="SLUICEGATE_MOCK_BASE_URL",
    needs_key=False,
    transport_factory=_memory_transport,
    description="deterministic answers from sluicegate's mock server, in memory by default",
)
