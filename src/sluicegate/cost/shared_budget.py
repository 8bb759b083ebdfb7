"""Budgets shared by every process that uses one store, by name.

Why: four workers with ``Client(budget=50)`` each keep their own $50, so together they
may spend $200. With a store, a budget is one set of counts in Redis, named by the
budget's name (``"client"``, ``"tag nightly"``, a run budget's own), and a request
reserves its worst case in every budget it falls under in one script, atomically, or in
none; so concurrent requests from different processes can never pass a check only one of
them fits. When the request ends, the reservation is replaced by the actual cost.

What each process still keeps: its own :class:`~sluicegate.cost.budget.Budget` counts
(what *it* spent and holds), reserved after Redis admitted and settled with it, so the
ledger and ``client.budget`` read as before. The limit checked is the caller's own
``Budget.limit``: processes that share a budget name give it the same limit.

A reservation its process never settled (killed, cut off) expires after
``RESERVATION_TTL_S`` and is then counted as spent: nobody knows what the provider
charged, and spent is the side that keeps the limit. A budget's counts are kept in Redis
until ``KEEP_S`` after its last use; a per-run limit takes a per-run name.

Redis away: :class:`~sluicegate.stores.errors.StoreUnavailableError` (nothing is sent),
or with ``fallback_processes=N`` the request is checked against this process's own
counts and a share of the limit, ``limit / N``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sluicegate.cost.budget import Budget
from sluicegate.errors import BudgetExceededError
from sluicegate.stores.errors import StoreUnavailableError

if TYPE_CHECKING:
    from sluicegate.stores.redis.connection import SharedStore

__all__ = ["KEEP_S", "RESERVATION_TTL_S", "SharedBudgets"]

NANO = 1_000_000_000
"""Amounts cross into Redis in nano-USD: exact in a Lua double up to $9 million."""
RESERVATION_TTL_S = 3600.0
KEEP_S = 7 * 24 * 3600.0


class SharedBudgets:
    """The cost stage's link to the store for its budgets."""

    __slots__ = ("_store",)

    def __init__(self, store: SharedStore) -> None:
        self._store = store

    def _keys(self, budgets: tuple[Budget, ...]) -> list[str]:
        keys: list[str] = []
        for budget in budgets:
            keys.extend(self._store.keys.budget(budget.name))
        return keys

    def reservation(self, request_id: str) -> str:
        return f"{self._store.owner}:{request_id}"

    async def reserve(
        self,
        request_id: str,
        budgets: tuple[Budget, ...],
        estimate: float,
        model: str,
        detail: str,
    ) -> None:
        """Reserve ``estimate`` USD in every budget in Redis, or raise
        BudgetExceededError naming the first without room, with its shared counts."""
        amount = math.ceil(estimate * NANO)
        argv: list[str | int | float] = [
            "",
            self.reservation(request_id),
            amount,
            round(RESERVATION_TTL_S * 1e6),
            round(KEEP_S * 1000),
        ]
        argv.extend(math.floor(budget.limit * NANO) for budget in budgets)
        try:
            reply = await self._store.run(
                "BUDGET_RESERVE", self._keys(budgets), argv, "budget reservation"
            )
        except StoreUnavailableError:
            processes = self._store.config.fallback_processes
            if processes is None:
                raise
            self._check_share(budgets, estimate, model, detail, processes)
            return
        if reply[0] != 1:
            budget = budgets[int(reply[1]) - 1]
            budget.refused += 1
            raise BudgetExceededError(
                budget=budget.name,
                limit=budget.limit,
                spent=float(reply[2]) / NANO,
                reserved=float(reply[3]) / NANO,
                estimate=estimate,
                model=model,
                detail=f"{detail}; counted across every process sharing the store"
                if detail
                else "counted across every process sharing the store",
            )

    def _check_share(
        self,
        budgets: tuple[Budget, ...],
        estimate: float,
        model: str,
        detail: str,
        processes: int,
    ) -> None:
        for budget in budgets:
            share = budget.limit / processes
            if budget.spent + budget.reserved + estimate > share:
                budget.refused += 1
                raise BudgetExceededError(
                    budget=budget.name,
                    limit=share,
                    spent=budget.spent,
                    reserved=budget.reserved,
                    estimate=estimate,
                    model=model,
                    detail=f"the store is away: this process's share, 1/{processes} of "
                    f"${budget.limit:g}",
                )

    def settle(self, request_id: str, budgets: tuple[Budget, ...], actual: float) -> None:
        """Replace the reservation by ``actual`` USD (in the background, once)."""
        self._store.defer(
            "BUDGET_SETTLE",
            self._keys(budgets),
            ["", self.reservation(request_id), math.ceil(actual * NANO), round(KEEP_S * 1000)],
            "budget settlement",
        )
