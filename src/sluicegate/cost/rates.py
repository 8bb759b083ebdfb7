"""What a request cost, in USD, from its usage and its model's price.

The rule (:func:`cost_of`), per million tokens::

    (input - cached - cache_write) * input price
    + cached * cached-input price
    + cache_write * cache-write price
    + output * output price

times ``1 - batch_discount`` for a batch job. ``input`` is the whole prompt, with the
cached and cache-written parts inside it (:class:`~sluicegate.types.Usage`); a cached or
cache-write price left unset is the input price.

The arithmetic is exact: prices are taken as the decimals they are written as (0.15 is
fifteen hundredths, not the binary float nearest to it), every product and sum is an
integer, and only the final division rounds, once and correctly. So a cost equals the
value computed by hand with the same decimal prices, and the same usage always costs
the same float. :class:`CostRates` holds a price in that integer form, made once per
model when the client is built or the model is first seen.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sluicegate.cost.prices import ModelPrice
from sluicegate.types import Usage

if TYPE_CHECKING:
    from fractions import Fraction

__all__ = ["CostRates", "cost_of", "format_usd"]

_PER = 1_000_000
"""Prices are per million tokens."""


def _decimal(value: float) -> Fraction:
    """A price as the decimal it was written as (``repr`` gives the shortest decimal that
    reads back to the same float). ``fractions`` is imported here, once per model priced,
    not at ``import sluicegate``."""
    from fractions import Fraction

    return Fraction(repr(float(value)))


@dataclass(frozen=True, slots=True)
class CostRates:
    """A model's price as integer numerators over one common denominator, so that a cost
    is integer arithmetic and one correctly rounded division.

    ``input``, ``cached``, ``write`` and ``output`` are USD per token times
    ``denominator``; a batch job's cost is multiplied by ``batch_keep`` /
    ``batch_keep_denominator`` (``1 - batch_discount``).
    """

    model: str
    input: int
    cached: int
    write: int
    output: int
    denominator: int
    batch_keep: int
    batch_keep_denominator: int

    @classmethod
    def of(cls, price: ModelPrice) -> CostRates:
        """The rates of one price (made once per model: it builds Fractions)."""
        per_token = [
            _decimal(v) / _PER
            for v in (price.input_per_mtok, price.cached_input, price.cache_write)
        ]
        per_token.append(_decimal(price.output_per_mtok) / _PER)
        denominator = math.lcm(*(f.denominator for f in per_token))
        inp, cached, write, out = (f.numerator * (denominator // f.denominator) for f in per_token)
        keep = 1 - _decimal(price.batch_discount)
        return cls(
            price.model,
            inp,
            cached,
            write,
            out,
            denominator,
            keep.numerator,
            keep.denominator,
        )

    def cost(self, usage: Usage, *, batch: bool = False) -> float:
        """USD for ``usage``. Input tokens not cached or written are billed as input;
        a usage whose parts exceed its input (a server's inconsistency) bills the parts
        as reported and no plain input."""
        cached = usage.cached_tokens
        written = usage.cache_write_tokens
        fresh = usage.input_tokens - cached - written
        total = (
            (fresh if fresh > 0 else 0) * self.input
            + cached * self.cached
            + written * self.write
            + usage.output_tokens * self.output
        )
        if batch:
            return (total * self.batch_keep) / (self.denominator * self.batch_keep_denominator)
        return total / self.denominator

    def worst_case(self, input_tokens: int, output_tokens: int) -> float:
        """The most ``input_tokens`` in and ``output_tokens`` out can cost: every input
        token at the dearer of the input and cache-write prices, none at the cache-hit
        price (what a budget reserves before sending)."""
        per_input = self.input if self.input >= self.write else self.write
        return (input_tokens * per_input + output_tokens * self.output) / self.denominator


@functools.lru_cache(maxsize=512)
def _rates(price: ModelPrice) -> CostRates:
    return CostRates.of(price)


def cost_of(usage: Usage, price: ModelPrice, *, batch: bool = False) -> float:
    """USD that ``usage`` costs at ``price`` (``batch``: through the batch API).

    >>> from sluicegate import ModelPrice, Usage
    >>> price = ModelPrice("openai/gpt-4o-mini", 0.15, 0.60, cached_input_per_mtok=0.075)
    >>> cost_of(Usage(input_tokens=1000, output_tokens=500, cached_tokens=400), price)
    0.00042
    """
    return _rates(price).cost(usage, batch=batch)


def format_usd(amount: float | None) -> str:
    """An amount for people: ``$1.2345`` from a cent up, ``$0.000123`` below, ``?`` when
    the amount is unknown."""
    if amount is None:
        return "?"
    if amount == 0:
        return "$0"
    if amount >= 0.01:
        return f"${amount:,.4f}"
    return f"${amount:.3g}" if amount < 1e-6 else f"${amount:.6f}".rstrip("0")
