"""The bundled price table: OpenAI's models and the mock provider's.

Prices change. These are list prices (standard tier, USD per million tokens) as checked on
:data:`PRICES_AS_OF`; they ship with the package and work offline, and a newer or
negotiated price goes in a user price file (``sluicegate prices`` shows which applies and
where it came from). A model that is not here is priced "unknown", never 0.

Sources (checked on :data:`PRICES_AS_OF`):

- OpenAI's model pages on developers.openai.com: gpt-5-nano and gpt-5-mini (input,
  cached input, output), gpt-5 (its price as listed beside gpt-5-codex, which has the
  same three), o3 (input, in a page's comparison row).
- Not confirmed on an OpenAI page, taken from several agreeing third-party tables
  (price trackers and other libraries that copy OpenAI's pricing page): gpt-4o,
  gpt-4o-mini, gpt-4.1, gpt-4.1-mini, gpt-4.1-nano, o4-mini, and o3's cached input and
  output.
- The Batch API takes 50% off input and output for all of them.

Claude models come with the ``sluicegate-anthropic`` plugin, which registers their
prices itself.
"""

from __future__ import annotations

from typing import Final

from sluicegate.cost.prices import ModelPrice

__all__ = ["MOCK_PRICES", "OPENAI_PRICES", "PRICES_AS_OF", "builtin_prices"]

PRICES_AS_OF: Final = "2026-11-30"
"""When the bundled prices were last checked against the providers' published prices."""

_SOURCE = "builtin"
_MOCK_SOURCE = "builtin (made-up mock prices)"

# model: (input, cached input, output), USD per million tokens
_OPENAI: Final[dict[str, tuple[float, float, float]]] = {
    "gpt-5": (1.25, 0.125, 10.00),
    "gpt-5-mini": (0.25, 0.025, 2.00),
    "gpt-5-nano": (0.05, 0.005, 0.40),
    "gpt-4.1": (2.00, 0.50, 8.00),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1-nano": (0.10, 0.025, 0.40),
    "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "o3": (2.00, 0.50, 8.00),
    "o4-mini": (1.10, 0.275, 4.40),
}

# The mock provider's models are free to call (no network, no key); these made-up
# prices exist so that demos and tests show costs, budgets and ledgers working.
_MOCK: Final[dict[str, tuple[float, float, float]]] = {
    "fast": (0.10, 0.05, 0.40),
    "smart": (2.00, 0.50, 8.00),
    "tiny": (0.02, 0.01, 0.08),
}

OPENAI_PRICES: Final = tuple(
    ModelPrice(
        model=f"openai/{name}",
        input_per_mtok=inp,
        output_per_mtok=out,
        cached_input_per_mtok=cached,
        batch_discount=0.5,
        source=_SOURCE,
    )
    for name, (inp, cached, out) in _OPENAI.items()
)

MOCK_PRICES: Final = tuple(
    ModelPrice(
        model=f"mock/{name}",
        input_per_mtok=inp,
        output_per_mtok=out,
        cached_input_per_mtok=cached,
        batch_discount=0.5,
        source=_MOCK_SOURCE,
    )
    for name, (inp, cached, out) in _MOCK.items()
)


def builtin_prices() -> tuple[ModelPrice, ...]:
    """What the built-in plugin registers through the ``sluicegate_prices`` hook."""
    return OPENAI_PRICES + MOCK_PRICES
