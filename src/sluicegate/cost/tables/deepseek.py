"""DeepSeek's models: list prices, USD per million tokens, keyed ``deepseek/MODEL``.

Checked on :data:`AS_OF` (2026-12-02) against DeepSeek's "Models & Pricing" page
(https://api-docs.deepseek.com/quick_start/pricing, in the version naming
DeepSeek-V4.1-Flash-1017). What was confirmed, and where:

- **Confirmed on DeepSeek's page**: ``deepseek-flash`` (DeepSeek-V4.1-Flash) and
  ``deepseek-v4-pro`` (DeepSeek-V4-Pro-0813), cache-hit input, cache-miss input and
  output; and that the legacy name ``deepseek-v4-flash`` is still accepted, served by
  V4.1-Flash and billed at the Flash price (so it is priced as ``deepseek-flash``).
- **Priced at the peak rates.** DeepSeek bills peak and off-peak hours, off-peak at half
  the peak price (peak: 01:00-04:00 and 06:00-10:00 UTC, Monday to Friday outside Chinese
  public holidays, as the English and Chinese pages state it). sluicegate does not know
  when a request ran, so it charges the peak price: a cost reported for off-peak use is
  up to twice what DeepSeek bills, never less, and a budget stays safe.
- **Not confirmed on DeepSeek's page**: ``deepseek-v3.2`` at $0.28 input (cache miss),
  $0.028 cache hit, $0.42 output (the issue's seed figure). That is the price DeepSeek
  charged for V3.2 (from 2025-12), as a third-party table records it (Roo-Code,
  "Updated Dec 9, 2025"); DeepSeek's page no longer lists V3.2. It is kept because relays
  still serve V3.2's open weights under that name; a relay's own price differs, and a
  price file entry gives it.

The issue's premise that DeepSeek serves V3.2 as ``deepseek-chat`` / ``deepseek-reasoner``
is out of date: DeepSeek moved both names to V4-Flash on 2026-04-24 and retired them on
2026-07-24 (DeepSeek's V4 release note as several accounts quote it; the current pricing
page no longer lists them), so they are not priced here. DeepSeek has no batch
API that was found, so ``batch_discount`` is 0. DeepSeek's cache-miss input is the plain
input price; its cache-hit price is the cached-input price.
"""

from __future__ import annotations

from typing import Final

from sluicegate.cost.prices import PriceList
from sluicegate.cost.tables._rows import Row, model_prices

__all__ = ["AS_OF", "PRICES", "PRICE_LIST"]

AS_OF: Final = "2026-12-02"

# model: (input = cache miss, cached input = cache hit, output), USD per million tokens,
# peak rates
_ROWS: Final[dict[str, Row]] = {
    "deepseek-flash": (0.30, 0.006, 1.20),
    "deepseek-v4-flash": (0.30, 0.006, 1.20),
    "deepseek-v4-pro": (1.32, 0.044, 3.96),
    "deepseek-v3.2": (0.28, 0.028, 0.42),
}

PRICES: Final = model_prices(
    "deepseek", _ROWS, source=f"builtin deepseek {AS_OF}", batch_discount=0.0
)

PRICE_LIST: Final = PriceList(
    provider="deepseek",
    as_of=AS_OF,
    sources=(
        "https://api-docs.deepseek.com/quick_start/pricing",
        "https://api-docs.deepseek.com/zh-cn/quick_start/pricing",
        "https://github.com/RooCodeInc/Roo-Code/blob/main/packages/types/src/providers/deepseek.ts",
    ),
    prices=PRICES,
    note="peak rates (off-peak is half); flash and v4-pro confirmed on DeepSeek's page; "
    "v3.2 is its former price, from a third-party table",
)
