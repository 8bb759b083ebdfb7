"""Claude models' prices, registered through the ``sluicegate_prices`` hook.

Prices change. These are Anthropic's list prices in USD per million tokens, from the
pricing page of Anthropic's documentation (platform.claude.com, "Model pricing") as
checked on :data:`PRICES_AS_OF`: base input, 5-minute cache writes (1.25x input), cache
hits (0.1x input) and output; the Message Batches API takes 50% off. Not modelled: 1-hour
cache writes (2x input; priced here as 5-minute writes) and the long-context premium some
models charge above 200k input tokens. A user price file overrides any of them.

Anthropic names snapshots with a date (``claude-sonnet-4-5-20250929``) and aliases with
``-latest``; both are priced as their base name, so one entry per model suffices.
"""

from __future__ import annotations

from typing import Final

from sluicegate import ModelPrice

PRICES_AS_OF: Final = "2026-11-30"
SOURCE: Final = "plugin sluicegate-anthropic"

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
