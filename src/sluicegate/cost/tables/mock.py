"""The mock provider's made-up prices.

The mock provider's models are free to call (no network, no key); these prices exist so
that demos and tests show costs, budgets and ledgers working. They are never lent to a
real model of the same name (``well_known=False``): ``openai/fast`` is not priced as
``mock/fast``.
"""

from __future__ import annotations

from typing import Final

from sluicegate.cost.prices import PriceList
from sluicegate.cost.tables._rows import Row, model_prices

__all__ = ["PRICES", "PRICE_LIST"]

SOURCE: Final = "builtin (made-up mock prices)"

# model: (input, cached input, output), USD per million tokens
_ROWS: Final[dict[str, Row]] = {
    "fast": (0.10, 0.05, 0.40),
    "smart": (2.00, 0.50, 8.00),
    "tiny": (0.02, 0.01, 0.08),
}

PRICES: Final = model_prices("mock", _ROWS, source=SOURCE, batch_discount=0.5, well_known=False)

PRICE_LIST: Final = PriceList(
    provider="mock",
    as_of="2026-12-02",
    sources=(),
    prices=PRICES,
    note="made up for demos and tests: the mock provider is free",
)
