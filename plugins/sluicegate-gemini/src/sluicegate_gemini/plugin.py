"""The plugin sluicegate loads through the ``sluicegate`` entry point: registers the
``gemini`` provider kind and the Gemini models' prices.

Only the spec is built at import; the codec is imported when a client first builds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sluicegate import PriceList, ProviderSpec, hookimpl
from sluicegate.plugins import CredentialHeader

if TYPE_CHECKING:
    from sluicegate_gemini.codec import GeminiProvider

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
"""The Gemini API's REST root, version included; the codec appends
``/models/{model}:generateContent``."""


def make_provider(name: str, base_url: str, headers: Mapping[str, str]) -> GeminiProvider:
    """The codec for one configured provider name (``"gemini"``, or a user's name for a
    gateway that speaks the Gemini API, added with ``ProviderSettings(kind="gemini")``)."""
    from sluicegate_gemini.codec import GeminiProvider

    return GeminiProvider(base_url, headers, name=name)


SPEC = ProviderSpec(
    name="gemini",
    factory=make_provider,
    default_base_url=DEFAULT_BASE_URL,
    # GEMINI_API_KEY is what Google's quickstarts set (the google-genai SDK also reads
    # GOOGLE_API_KEY); one variable keeps "where does the key come from" one answer.
    api_key_env="GEMINI_API_KEY",
    base_url_env="GEMINI_BASE_URL",
    credential_header=CredentialHeader("x-goog-api-key", scheme=None),
    description="Google Gemini API (POST {base_url}/models/{model}:generateContent; "
    "base URL with /v1beta)",
)


@hookimpl
def sluicegate_providers() -> Sequence[ProviderSpec]:
    return [SPEC]


@hookimpl
def sluicegate_price_lists() -> Sequence[PriceList]:
    """Gemini models' dated list prices (see :mod:`sluicegate_gemini.prices`)."""
    from sluicegate_gemini.prices import PRICE_LIST

    return [PRICE_LIST]
