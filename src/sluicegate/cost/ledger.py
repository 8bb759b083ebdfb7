"""The ledger: what a client's requests used and cost, per model, per tag and in total.

The cost stage records every logical request once, when it ends (a stream: when it ends
or is cut). Totals are kept exactly (:mod:`sluicegate.cost.exact`), so the total cost equals
``math.fsum`` of the responses' costs, in whatever order concurrent requests finished.
Recording is synchronous, with no await, so concurrent requests on one event loop never
interleave inside it.

What is counted where:

- ``requests``: requests that went to the provider and ended, answered or failed;
  ``errors`` the failed ones (by error type in ``error_types``), a cut stream included.
- ``cost``: the sum of known costs; ``cost_unknown`` counts requests whose cost is unknown
  (no price for the model, or no usage reported): they add nothing to ``cost``, which is
  then a lower bound, and are never counted as free.
- ``cut_streams``: streams cut or closed before their end, charged by the text counted up
  to the cut (input estimated from the request) since the provider bills what it made.
- ``replayed``: answers the idempotency stage gave from an earlier call (a resumed run, a
  twin): sent nothing, cost nothing, counted here only.
- ``refused``: requests a budget refused before sending.

A request is counted under the model that answered it (``Response.model``, which
fallback may change; the requested model for a failure) and under each of its tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sluicegate.cost.exact import to_float, to_units
from sluicegate.types import Usage

__all__ = ["Ledger", "LedgerSnapshot", "Totals"]

_EMPTY_COUNTS: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts, tokens and cost of a set of requests (one model, one tag, or all)."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float = 0.0
    cost_unknown: int = 0
    cut_streams: int = 0
    replayed: int = 0
    refused: int = 0
    error_types: Mapping[str, int] = field(default_factory=lambda: _EMPTY_COUNTS)

    @property
    def answered(self) -> int:
        """Requests that got an answer from the provider."""
        return self.requests - self.errors

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class LedgerSnapshot:
    """The ledger at one moment: immutable, so it can be kept, compared or printed while
    requests go on."""

    total: Totals
    by_model: Mapping[str, Totals]
    by_tag: Mapping[str, Totals]


class _Account:
    """The running totals of one model, one tag, or the whole client."""

    __slots__ = (
        "cache_write_tokens",
        "cached_tokens",
        "cost_units",
        "cost_unknown",
        "cut_streams",
        "error_types",
        "errors",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "refused",
        "replayed",
        "requests",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.cache_write_tokens = 0
        self.reasoning_tokens = 0
        self.cost_units = 0
        self.cost_unknown = 0
        self.cut_streams = 0
        self.replayed = 0
        self.refused = 0
        self.error_types: dict[str, int] = {}

    def add_usage(self, usage: Usage, units: int | None) -> None:
        self.requests += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cached_tokens += usage.cached_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        if units is None:
            self.cost_unknown += 1
        else:
            self.cost_units += units

    def add_error(self, error_type: str) -> None:
        self.errors += 1
        self.error_types[error_type] = self.error_types.get(error_type, 0) + 1

    def totals(self) -> Totals:
        return Totals(
            requests=self.requests,
            errors=self.errors,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_tokens=self.cached_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
            cost=to_float(self.cost_units),
            cost_unknown=self.cost_unknown,
            cut_streams=self.cut_streams,
            replayed=self.replayed,
            refused=self.refused,
            error_types=MappingProxyType(dict(self.error_types))
            if self.error_types
            else _EMPTY_COUNTS,
        )


class Ledger:
    """Running totals of a client's requests (``client.ledger``); read them with
    :meth:`snapshot` at any time, during a run or after it."""

    __slots__ = ("_by_model", "_by_tag", "_total")

    def __init__(self) -> None:
        self._total = _Account()
        self._by_model: dict[str, _Account] = {}
        self._by_tag: dict[str, _Account] = {}

    def _accounts(self, model: str, tags: Iterable[str]) -> list[_Account]:
        model_account = self._by_model.get(model)
        if model_account is None:
            model_account = self._by_model[model] = _Account()
        accounts = [self._total, model_account]
        for tag in tags:
            account = self._by_tag.get(tag)
            if account is None:
                account = self._by_tag[tag] = _Account()
            if account not in accounts:  # a tag given twice counts once
                accounts.append(account)
        return accounts

    # -- recording (the cost stage calls these) -------------------------------------------

    def record(self, model: str, tags: Iterable[str], usage: Usage, cost: float | None) -> None:
        """An answered request: its usage and its cost (None when unknown)."""
        units = None if cost is None else to_units(cost)
        for account in self._accounts(model, tags):
            account.add_usage(usage, units)

    def record_cut(
        self,
        model: str,
        tags: Iterable[str],
        usage: Usage,
        cost: float | None,
        error_type: str,
    ) -> None:
        """A stream cut or closed before its end, charged by its counted text."""
        units = None if cost is None else to_units(cost)
        for account in self._accounts(model, tags):
            account.add_usage(usage, units)
            account.cut_streams += 1
            account.add_error(error_type)

    def record_error(self, model: str, tags: Iterable[str], error_type: str) -> None:
        """A request that failed without an answer (nothing charged)."""
        for account in self._accounts(model, tags):
            account.requests += 1
            account.add_error(error_type)

    def record_replay(self, model: str, tags: Iterable[str]) -> None:
        """An answer replayed from an earlier call: nothing sent, nothing charged."""
        for account in self._accounts(model, tags):
            account.replayed += 1

    def record_refused(self, model: str, tags: Iterable[str]) -> None:
        """A request a budget refused before sending."""
        for account in self._accounts(model, tags):
            account.refused += 1

    # -- reading --------------------------------------------------------------------------

    def snapshot(self) -> LedgerSnapshot:
        """The totals now, as an immutable value."""
        return LedgerSnapshot(
            total=self._total.totals(),
            by_model=MappingProxyType({m: a.totals() for m, a in self._by_model.items()}),
            by_tag=MappingProxyType({t: a.totals() for t, a in self._by_tag.items()}),
        )

    @property
    def total_cost(self) -> float:
        """The known cost of every request so far, in USD."""
        return to_float(self._total.cost_units)

    def __repr__(self) -> str:
        total = self._total
        return (
            f"<Ledger requests={total.requests} errors={total.errors} "
            f"cost=${to_float(total.cost_units):.6f} unknown={total.cost_unknown}>"
        )
