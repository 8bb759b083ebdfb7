"""The plugin sluicegate loads through the ``sluicegate`` entry point: registers the
``anthropic`` provider kind.

Only :class:`ProviderSpec` is built at import; the codec module is imported when a client
first builds the provider, so ``sluicegate plugins`` and clients that never use Anthropic
do not pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sluicegate.hookspecs import hookimpl
from sluicegate.providers.base import ProviderSpec

if TYPE_CHECKING:
    from sluicegate.prices import ModelPrice
    from sluicegate_anthropic.codec import AnthropicProvider

DEFAULT_BASE_URL = "https://api.anthropic.com"
"""The API host without ``/v1``, as the official SDK's ``ANTHROPIC_BASE_URL``."""


def make_provider(name: str, base_url: str, headers: Mapping[str, str]) -> AnthropicProvider:
    """The codec for one configured provider name (``"anthropic"``, or a user's name for
    an Anthropic-compatible gateway added with ``ProviderSettings(kind="anthropic")``)."""
    from sluicegate_anthropic.codec import AnthropicProvider

    return AnthropicProvider(base_url, headers, name=name)


SPEC = ProviderSpec(
    name="anthropic",
    factory=make_provider,
    default_base_url=DEFAULT_BASE_URL,
    api_key_env="ANTHROPIC_API_KEY",
    base_url_env="ANTHROPIC_BASE_URL",
    description="Anthropic Messages API (POST {base_url}/v1/messages; base URL without /v1)",
)


@hookimpl
def sluicegate_providers() -> Sequence[ProviderSpec]:
    return [SPEC]


@hookimpl
def sluicegate_prices() -> Sequence[ModelPrice]:
    """Claude models' list prices (see :mod:`sluicegate_anthropic.prices`)."""
    from sluicegate_anthropic.prices import CLAUDE_PRICES

    return CLAUDE_PRICES
