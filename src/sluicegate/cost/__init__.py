"""Cost: what each request cost, what has been spent, and what may still be spent.

- :mod:`~sluicegate.cost.prices`: :class:`ModelPrice`, :class:`PriceList` (one provider's
  dated, sourced prices) and :class:`PriceTable`, the lookup by model name (dated
  snapshots fall back to their base model, a relay's model to its well-known name);
- :mod:`~sluicegate.cost.tables`: the bundled price lists, one module per provider;
- :mod:`~sluicegate.cost.price_file`: a user's TOML price file, checked line by line;
- :mod:`~sluicegate.cost.rates`: :func:`cost_of`, prices in exact integer form;
- :mod:`~sluicegate.cost.exact`: exact sums of USD amounts, in any order;
- :mod:`~sluicegate.cost.ledger`: :class:`Ledger`, totals per model, per tag and overall;
- :mod:`~sluicegate.cost.budget`: :class:`Budget`, reserved before sending, settled after;
- :mod:`~sluicegate.cost.stage`: the cost stage (phase COST) that ties them together.

The token estimate a budget reserves against is :mod:`sluicegate.estimate`, shared with
the rate limiter.
"""

from sluicegate.cost.budget import Budget
from sluicegate.cost.ledger import Ledger, LedgerSnapshot, Totals
from sluicegate.cost.prices import ModelPrice, PriceList, PriceTable
from sluicegate.cost.rates import CostRates, cost_of, format_usd
from sluicegate.cost.stage import CostPolicy

__all__ = [
    "Budget",
    "CostPolicy",
    "CostRates",
    "Ledger",
    "LedgerSnapshot",
    "ModelPrice",
    "PriceList",
    "PriceTable",
    "Totals",
    "cost_of",
    "format_usd",
]
