"""Google's Gemini models (Gemini Developer API): list prices, paid tier, USD per million
tokens, keyed ``gemini/MODEL``, registered as one dated :class:`~sluicegate.PriceList`
through the ``sluicegate_price_lists`` hook.

They price this plugin's ``gemini/...`` models, and through the well-known-name rule a
relay's ``openai/gemini-2.5-flash`` (see :meth:`PriceTable.lookup
<sluicegate.cost.prices.PriceTable.lookup>`), as Claude's come with ``sluicegate-anthropic``:
each provider's prices are kept, dated and checked with its plugin. A relay user without
the plugin sees Gemini models unpriced (unknown, never 0) until it is installed or a
price file names them.

Checked on :data:`AS_OF` (2026-12-02). What was confirmed, and where:

- **Confirmed on a Google page**: the Batch API's 50% discount, on the Gemini API's
  optimisation guide (https://ai.google.dev/gemini-api/docs/optimization, read in its
  Hindi copy, whose table gives Batch and Flex a 50% discount).
- **Not confirmed on Google's pricing page** (https://ai.google.dev/gemini-api/docs/pricing
  could not be read from here): every token price below. The input prices of
  gemini-2.5-flash ($0.30, text/image/video), gemini-2.5-pro ($1.25, prompts up to 200k
  tokens), the output price of gemini-2.5-flash-lite ($0.40), and both prices of
  gemini-3.1-pro-preview ($2 / $12 up to 200k) and gemini-3.5-flash ($1.50 / $9) are as
  two third-party transcriptions of that page quote it verbatim (api-evangelist, read
  2026-09-20 and 2026-10-07). The rest (gemini-2.5-flash output $2.50, the issue's seed
  figure; gemini-2.5-pro output $10; gemini-2.5-flash-lite input $0.10; the cached-input
  prices $0.125, $0.03, $0.01, $0.15) come from agreeing third-party tables (simonw's
  llm-prices, OpenRouter's and Vercel's gateway pages, deploybase).
- gemini-3.1-pro-preview has no cached-input price here: none was found, so its cache
  reads are billed as plain input (an over-estimate, never a guess).

Not modelled: audio input (dearer: $1.00 for 2.5 Flash), and the long-prompt tier of
gemini-2.5-pro and gemini-3.1-pro-preview: prompts over 200k tokens cost more ($2.50 /
$15 and $4 / $18), and are priced here at the ≤200k tier, so such a request's cost is
under-stated. Left out: gemini-2.0-flash and -lite (a third-party account gives
2026-06-01 as gemini-2.0-flash's shutdown date), and models whose API name or price could
not be established (gemini-3.5-flash-lite, gemini-3.8-flash, whose price changes on
2027-01-01).
"""

from __future__ import annotations

from typing import Final

from sluicegate import ModelPrice, PriceList

__all__ = ["AS_OF", "PRICES", "PRICE_LIST", "SOURCE"]

AS_OF: Final = "2026-12-02"
SOURCE: Final = f"plugin sluicegate-gemini {AS_OF}"

# model: (input, cached input or None, output), USD per million tokens; the ≤200k-token
# tier. A cached-input price left None bills cache reads as plain input.
_ROWS: Final[dict[str, tuple[float, float | None, float]]] = {
    "gemini-2.5-pro": (1.25, 0.125, 10.00),
    "gemini-2.5-flash": (0.30, 0.03, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.01, 0.40),
    "gemini-3.1-pro-preview": (2.00, None, 12.00),
    "gemini-3.5-flash": (1.50, 0.15, 9.00),
}

PRICES: Final = tuple(
    ModelPrice(
        model=f"gemini/{name}",
        input_per_mtok=inp,
        output_per_mtok=out,
        cached_input_per_mtok=cached,
        batch_discount=0.5,
        source=SOURCE,
    )
    for name, (inp, cached, out) in _ROWS.items()
)

PRICE_LIST: Final = PriceList(
    provider="google",
    as_of=AS_OF,
    sources=(
        "https://ai.google.dev/gemini-api/docs/pricing",
        "https://ai.google.dev/gemini-api/docs/optimization",
        "https://github.com/api-evangelist/gemini/blob/main/plans/gemini-plans-pricing.yml",
        "https://github.com/simonw/llm-prices/blob/main/data/google.json",
        "https://openrouter.ai/google/gemini-2.5-flash",
    ),
    prices=PRICES,
    note="batch 50% confirmed on Google's page; token prices from third-party copies of "
    "Google's pricing page; prompts up to 200k tokens",
)
