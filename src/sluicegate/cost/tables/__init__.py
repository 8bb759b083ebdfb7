"""The bundled price lists, one module per provider, each dated and with its sources.

- :mod:`~sluicegate.cost.tables.openai`: OpenAI's models (``openai/...``);
- :mod:`~sluicegate.cost.tables.deepseek`: DeepSeek (``deepseek/...``);
- :mod:`~sluicegate.cost.tables.mistral`: Mistral AI (``mistral/...``);
- :mod:`~sluicegate.cost.tables.mock`: the mock provider's made-up prices.

Claude's prices come with the ``sluicegate-anthropic`` plugin, Gemini's with
``sluicegate-gemini``. Each module's docstring
says which prices were confirmed on the provider's own pricing page and which come from
elsewhere; a model that could not be priced is left out (unknown, never 0). Prices
change: a newer or negotiated price goes in a user price file, which wins.
"""

from __future__ import annotations

from typing import Final

from sluicegate.cost.prices import ModelPrice, PriceList
from sluicegate.cost.tables import deepseek, mistral, mock, openai

__all__ = ["BUILTIN_PRICE_LISTS", "builtin_prices"]

BUILTIN_PRICE_LISTS: Final[tuple[PriceList, ...]] = (
    openai.PRICE_LIST,
    deepseek.PRICE_LIST,
    mistral.PRICE_LIST,
    mock.PRICE_LIST,
)
"""What the built-in plugin registers through the ``sluicegate_price_lists`` hook."""


def builtin_prices() -> tuple[ModelPrice, ...]:
    """Every bundled price, in list order."""
    return tuple(price for price_list in BUILTIN_PRICE_LISTS for price in price_list.prices)
