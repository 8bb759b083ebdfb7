"""Budgets: a limit in USD that requests reserve against before they are sent.

Three kinds, all the same :class:`Budget` object, each a request's own business:

- per client: ``Client(budget=5.0)`` (or a ``Budget`` to share one limit between
  clients), checked by every request of the client;
- per tag: ``Client(tag_budgets={"nightly": 2.0})``, checked by requests tagged so;
- per run: ``budget = sluicegate.Budget(1.0, name="reviews")`` passed to calls
  (``client.chat(..., budget=budget)``) or to a bulk run (``client.map(...)``), checked
  by the calls it is given to.

How a request is admitted, by the cost stage, outside retries and fallbacks:

1. its worst case is estimated: the prompt's estimated tokens at the input price (or the
   cache-write price, if dearer) plus ``max_tokens`` (or the configured default output
   when a request sets none) at the output price, for the dearest of its model and its
   fallbacks;
2. every budget that applies must have room: ``spent + reserved + estimate <= limit``;
   else :class:`~sluicegate.errors.BudgetExceededError`, before anything is sent;
3. the estimate is reserved in each, and when the request ends the reservation is
   replaced by the actual cost (0 for a failure or a replayed answer).

Steps 2 and 3 run with no await between them, so concurrent requests on one event loop
can never pass the check together and overspend. The limit holds as long as requests use
no more than estimated: output is bounded by ``max_tokens`` (set it; the default output
estimate is only a guess for requests without it) and input by the estimator (one token
per four characters: a real tokenizer counts more for code or non-Latin text; pass your
own with ``CostPolicy(estimate=...)``). A request that used more than it reserved is
logged (``budget.overrun``), and the budget then refuses until there is room again.

Amounts are kept exactly (:mod:`sluicegate.cost.exact`), so a limit of $1 is not passed by a
rounding error after a million small requests.
"""

from __future__ import annotations

import math

from sluicegate.cost.exact import to_float, to_units
from sluicegate.errors import BudgetExceededError, ConfigError

__all__ = ["Budget", "admit", "settle"]


class Budget:
    """A spending limit in USD, and what has been spent and reserved against it."""

    __slots__ = (
        "_limit",
        "_reserved",
        "_spent",
        "admitted",
        "in_flight",
        "limit",
        "name",
        "refused",
    )

    def __init__(self, limit_usd: float, *, name: str = "run") -> None:
        if isinstance(limit_usd, bool) or not isinstance(limit_usd, int | float):
            raise ConfigError(f"budget {name!r}: the limit must be USD, got {limit_usd!r}")
        if not (math.isfinite(limit_usd) and limit_usd >= 0):
            raise ConfigError(
                f"budget {name!r}: the limit must be a finite amount >= 0, got {limit_usd!r}"
            )
        self.name = name
        self.limit = float(limit_usd)
        self._limit = to_units(self.limit)
        self._spent = 0
        self._reserved = 0
        self.admitted = 0
        """Requests admitted so far."""
        self.refused = 0
        """Requests refused so far."""
        self.in_flight = 0
        """Requests admitted and not yet ended."""

    @property
    def spent(self) -> float:
        """USD spent by the requests that ended."""
        return to_float(self._spent)

    @property
    def reserved(self) -> float:
        """USD held by requests in flight (their estimates)."""
        return to_float(self._reserved)

    @property
    def remaining(self) -> float:
        """USD a new request may still reserve."""
        return to_float(max(self._limit - self._spent - self._reserved, 0))

    def within_limit(self) -> bool:
        """Spent plus reserved is at most the limit, compared exactly (the invariant the
        admission rule keeps while requests use no more than they reserved)."""
        return self._spent + self._reserved <= self._limit

    @property
    def exhausted(self) -> bool:
        """Nothing is left to reserve (spent, or held by requests in flight)."""
        return self._spent + self._reserved >= self._limit

    def __repr__(self) -> str:
        return (
            f"<Budget {self.name!r} limit=${self.limit} spent=${self.spent:.6f} "
            f"reserved=${self.reserved:.6f} in_flight={self.in_flight}>"
        )


def admit(budgets: tuple[Budget, ...], estimate: float, model: str, detail: str = "") -> int:
    """Reserve ``estimate`` USD in every budget, or raise BudgetExceededError naming the
    first without room (and reserve in none). Synchronous on purpose: no other request
    can run between the check and the reservation. Returns the reservation in exact
    units, for :func:`settle`."""
    units = to_units(estimate)
    for budget in budgets:
        if budget._spent + budget._reserved + units > budget._limit:
            budget.refused += 1
            raise BudgetExceededError(
                budget=budget.name,
                limit=budget.limit,
                spent=budget.spent,
                reserved=budget.reserved,
                estimate=estimate,
                model=model,
                detail=detail,
            )
    for budget in budgets:
        budget._reserved += units
        budget.admitted += 1
        budget.in_flight += 1
    return units


def settle(budgets: tuple[Budget, ...], reserved: int, actual: float) -> None:
    """Replace a reservation by the actual cost (USD) once the request ended."""
    units = to_units(actual)
    for budget in budgets:
        budget._reserved -= reserved
        budget._spent += units
        budget.in_flight -= 1
