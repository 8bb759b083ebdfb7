"""The plugin sluicegate loads through the ``sluicegate`` entry point: registers the
``anthropic`` provider kind, its prices and its batch API (Message Batches).

Only the specs are built at import; the codec and batch modules are imported when a
client first builds them, so ``sluicegate plugins`` and clients that never use Anthropic
do not pay for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sluicegate import BatchApiSpec, BatchLimits, ProviderSpec, hookimpl
from sluicegate.plugins import BatchBinding, CredentialHeader

if TYPE_CHECKING:
    from sluicegate import PriceList
    from sluicegate.plugins import BatchBinding
    from sluicegate_anthropic.batch import AnthropicBatchApi
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
    credential_header=CredentialHeader("x-api-key", scheme=None),
    description="Anthropic Messages API (POST {base_url}/v1/messages; base URL without /v1)",
)


@hookimpl
def sluicegate_providers() -> Sequence[ProviderSpec]:
    return [SPEC]


@hookimpl
def sluicegate_price_lists() -> Sequence[PriceList]:
    """Claude models' dated list prices (see :mod:`sluicegate_anthropic.prices`)."""
    from sluicegate_anthropic.prices import PRICE_LIST

    return [PRICE_LIST]


BATCH_LIMITS = BatchLimits(
    max_requests=100_000,
    # 256 MB of request body, less room for the {"requests": [...]} around the items
    max_bytes=256_000_000 - 4096,
    min_poll_interval_s=5.0,
    max_poll_interval_s=60.0,
)
"""Message Batches limits: 100,000 requests or 256 MB a batch."""


def make_batch_api(binding: BatchBinding) -> AnthropicBatchApi:
    """The Message Batches API of one configured Anthropic provider."""
    from sluicegate_anthropic.batch import AnthropicBatchApi

    return AnthropicBatchApi(binding)


BATCH_SPEC = BatchApiSpec(
    kind="anthropic",
    factory=make_batch_api,
    limits=BATCH_LIMITS,
    description="Anthropic Message Batches (POST /v1/messages/batches, results as JSONL)",
)


@hookimpl
def sluicegate_batch_apis() -> Sequence[BatchApiSpec]:
    return [BATCH_SPEC]
