"""Building a provider's :class:`~sluicegate.cost.prices.ModelPrice` tuple from rows."""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.cost.prices import ModelPrice

Row = tuple[float, float | None, float]
"""``(input, cached input or None, output)``, USD per million tokens. A cached-input price
left None bills cache reads as plain input (the dearer reading, never a guess)."""


def model_prices(
    provider: str,
    rows: Mapping[str, Row],
    *,
    source: str,
    batch_discount: float,
    well_known: bool = True,
) -> tuple[ModelPrice, ...]:
    """One :class:`ModelPrice` per row, named ``provider/model``."""
    return tuple(
        ModelPrice(
            model=f"{provider}/{name}",
            input_per_mtok=inp,
            output_per_mtok=out,
            cached_input_per_mtok=cached,
            batch_discount=batch_discount,
            source=source,
            well_known=well_known,
        )
        for name, (inp, cached, out) in rows.items()
    )
