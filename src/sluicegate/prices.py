"""Model prices, as plugins register them through the ``sluicegate_prices`` hook.

Prices are in USD per million tokens. An unknown price is None ("unknown"), never 0: a
zero would silently report a paid run as free. Cost computation, bundled tables and user
overrides build on this value type.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """What one model costs. ``model`` is ``"provider/model"``."""

    model: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    batch_discount: float = 0.5
    source: str = ""
