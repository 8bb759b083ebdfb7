"""OpenAI's models: list prices (standard tier), USD per million tokens.

Checked on :data:`AS_OF` (2026-12-02). What was confirmed, and where:

- **Confirmed on an OpenAI page** at the check of 2026-11-30 this table carries over
  (OpenAI's model pages on developers.openai.com): gpt-5-nano and gpt-5-mini (input,
  cached input, output), gpt-5 (its three prices, as listed beside gpt-5-codex), o3
  (input). On 2026-12-02 no OpenAI page could be read from here, so none of them was
  re-confirmed on OpenAI's own page that day.
- **Not confirmed on an OpenAI page**: gpt-4.1 at $2 input, $0.50 cached input, $8
  output (the issue's seed figure) agrees with GitHub's Copilot pricing table
  (github/docs, ``data/tables/copilot/models-and-pricing.yml``) and with other libraries'
  tables; a third-party note of 2026-05 says OpenAI's pricing page no longer lists the
  gpt-4.x family, which stays billable. gpt-4o, gpt-4o-mini, gpt-4.1-mini, gpt-4.1-nano,
  o4-mini, and o3's cached input and output come from several agreeing third-party
  tables only.
- The Batch API takes 50% off input and output (not re-confirmed on 2026-12-02).

OpenAI's newer generations (gpt-5.x and later) are not here: their prices were not
checked. Give them a price in a price file.
"""

from __future__ import annotations

from typing import Final

from sluicegate.cost.prices import PriceList
from sluicegate.cost.tables._rows import Row, model_prices

__all__ = ["AS_OF", "PRICES", "PRICE_LIST"]

AS_OF: Final = "2026-12-02"

# model: (input, cached input, output), USD per million tokens
_ROWS: Final[dict[str, Row]] = {
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

PRICES: Final = model_prices("openai", _ROWS, source=f"builtin openai {AS_OF}", batch_discount=0.5)

PRICE_LIST: Final = PriceList(
    provider="openai",
    as_of=AS_OF,
    sources=(
        "https://developers.openai.com/api/docs/pricing",
        "https://github.com/github/docs/blob/main/data/tables/copilot/models-and-pricing.yml",
    ),
    prices=PRICES,
    note="gpt-5 family confirmed on OpenAI's model pages (2026-11-30); gpt-4.x, gpt-4o, "
    "o4-mini from third-party tables",
)
