"""Claude models' prices, registered as one dated :class:`~sluicegate.PriceList` through the
``sluicegate_price_lists`` hook.

Prices change. These are Anthropic's list prices in USD per million tokens: base input,
5-minute cache writes (1.25x input), cache hits (0.1x input) and output; the Message
Batches API takes 50% off. Checked on :data:`PRICES_AS_OF` (2026-12-02) against
Anthropic's pricing page (https://platform.claude.com/docs/en/about-claude/pricing):

- **Confirmed on Anthropic's page**, all four prices, on its current English copy: Opus
  4.8, 4.7, 4.6, 4.5 ($5 / $6.25 / $0.50 / $25), Opus 4.1 and Opus 4 ($15 / $18.75 /
  $1.50 / $75; the page now marks them retired except on Bedrock and Google Cloud).
- **Confirmed on an earlier copy of the same page** (its Chinese version,
  https://platform.claude.com/docs/zh-CN/about-claude/pricing, which lists the models it
  had then): Claude Sonnet 4.5 ($3 / $3.75 / $0.30 / $15: the issue's seed figure, $15
  output), Sonnet 4.6, Sonnet 4, Sonnet 3.7, Haiku 4.5, Haiku 3.5, Opus 3, Haiku 3. Their
  rows were not in the part of the current page that could be read here.
- The batch discount: Anthropic's batch-processing page
  (https://docs.anthropic.com/en/docs/build-with-claude/batch-processing) lists batch
  prices at half the standard ones.

Not modelled: 1-hour cache writes (2x input; priced here as 5-minute writes) and the
long-context premium some models charge above 200k input tokens. Not here: Anthropic's
newer generations (Sonnet 5 and 5.5, Opus 5 and 5.5, Haiku 5.5, Fable), which the page
lists but whose API names and tiered prices were not checked. A user price file
overrides any of them.

Anthropic names snapshots with a date (``claude-sonnet-4-5-20250929``) and aliases with
``-latest``; both are priced as their base name, so one entry per model suffices. A relay
that spells the name with dots (``claude-sonnet-4.5``) is priced by the well-known-name
rule (see ``PriceTable.lookup``).
"""

from __future__ import annotations

from typing import Final

from sluicegate import ModelPrice, PriceList

PRICES_AS_OF: Final = "2026-12-02"
SOURCE: Final = f"plugin sluicegate-anthropic {PRICES_AS_OF}"

# model: (input, 5m cache write, cache hit, output), USD per million tokens
_CLAUDE: Final[dict[str, tuple[float, float, float, float]]] = {
    "claude-opus-4-8": (5.00, 6.25, 0.50, 25.00),
    "claude-opus-4-7": (5.00, 6.25, 0.50, 25.00),
    "claude-opus-4-6": (5.00, 6.25, 0.50, 25.00),
    "claude-opus-4-5": (5.00, 6.25, 0.50, 25.00),
    "claude-opus-4-1": (15.00, 18.75, 1.50, 75.00),
    "claude-opus-4-0": (15.00, 18.75, 1.50, 75.00),
    "claude-opus-4": (15.00, 18.75, 1.50, 75.00),
    "claude-sonnet-4-6": (3.00, 3.75, 0.30, 15.00),
    "claude-sonnet-4-5": (3.00, 3.75, 0.30, 15.00),
    "claude-sonnet-4-0": (3.00, 3.75, 0.30, 15.00),
    "claude-sonnet-4": (3.00, 3.75, 0.30, 15.00),
    "claude-3-7-sonnet": (3.00, 3.75, 0.30, 15.00),
    "claude-haiku-4-5": (1.00, 1.25, 0.10, 5.00),
    "claude-3-5-haiku": (0.80, 1.00, 0.08, 4.00),
    "claude-3-haiku": (0.25, 0.30, 0.03, 1.25),
    "claude-3-opus": (15.00, 18.75, 1.50, 75.00),
}

CLAUDE_PRICES: Final = tuple(
    ModelPrice(
        model=f"anthropic/{name}",
        input_per_mtok=inp,
        output_per_mtok=out,
        cached_input_per_mtok=hit,
        cache_write_per_mtok=write,
        batch_discount=0.5,
        source=SOURCE,
    )
    for name, (inp, write, hit, out) in _CLAUDE.items()
)

PRICE_LIST: Final = PriceList(
    provider="anthropic",
    as_of=PRICES_AS_OF,
    sources=(
        "https://platform.claude.com/docs/en/about-claude/pricing",
        "https://platform.claude.com/docs/zh-CN/about-claude/pricing",
        "https://docs.anthropic.com/en/docs/build-with-claude/batch-processing",
    ),
    prices=CLAUDE_PRICES,
    note="5-minute cache writes; 1-hour writes and long-context premiums not modelled",
)
