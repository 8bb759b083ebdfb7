"""The bundled prices, as they were reached before they were split by provider.

The price lists now live one module per provider in :mod:`sluicegate.cost.tables`, each
with its own date and sources; this module keeps the names older code imports.
"""

from __future__ import annotations

from typing import Final

from sluicegate.cost.tables import BUILTIN_PRICE_LISTS, builtin_prices
from sluicegate.cost.tables.mock import PRICES as MOCK_PRICES
from sluicegate.cost.tables.openai import PRICES as OPENAI_PRICES

__all__ = ["MOCK_PRICES", "OPENAI_PRICES", "PRICES_AS_OF", "builtin_prices"]

PRICES_AS_OF: Final = max(price_list.as_of for price_list in BUILTIN_PRICE_LISTS)
"""When the bundled prices were last checked (the newest list's date; each list has its
own, :attr:`PriceList.as_of <sluicegate.cost.prices.PriceList.as_of>`)."""
