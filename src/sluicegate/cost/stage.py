"""The cost stage: prices every response, keeps the ledger, and enforces budgets.

It sits at :attr:`~sluicegate.chain.Phase.COST`, outside idempotency, fallback and retry,
so that it sees each logical request once:

- **pricing**: a response is priced by the model that actually answered
  (``Response.model``; fallback may have changed it) from its usage, and stamped with
  ``Response.cost``. A model without a price is logged once per client
  (``price.unknown``) and its cost is None, never 0. A response without any reported
  usage is "unknown" too. An answer the idempotency stage replayed (``attempts == 0``)
  sent nothing, so it costs 0 and is counted as a replay, not a second request.
- **streams**: the stage observes the event stream, counting text as it passes. The final
  ``Done(response)`` carries the cost from the final usage. A stream cut or closed before
  its end is charged by the text counted so far (four characters a token; the input from
  the reported usage, else the request's estimate), recorded as a cut stream, and the
  estimate is put on the :class:`~sluicegate.errors.StreamError` (``.cost``).
- **budgets**: see :mod:`sluicegate.cost.budget`. A request under a budget whose model (or a
  fallback) has no price is refused with
  :class:`~sluicegate.errors.UnknownPriceError`: its cost could not be bounded.

The hot path without budgets costs one dict read for the model's rates (computed once
per model), integer arithmetic, a ledger update and one ``response.replace``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.cost.budget import Budget, admit, settle
from sluicegate.cost.exact import to_float, to_units
from sluicegate.cost.ledger import Ledger
from sluicegate.cost.prices import PriceTable
from sluicegate.cost.rates import CostRates
from sluicegate.errors import ConfigError, StreamError, UnknownPriceError
from sluicegate.estimate import (
    CHARS_PER_TOKEN,
    TokenEstimate,
    estimate_input_tokens,
    estimate_tokens,
)
from sluicegate.logs import get_logger
from sluicegate.stage_settings import stage_policy
from sluicegate.streaming import EventStream
from sluicegate.types import (
    Request,
    Response,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)

if TYPE_CHECKING:
    from sluicegate.cost.shared_budget import SharedBudgets

__all__ = ["Accounting", "CostPolicy", "CostStage", "build"]

_MAX_MODELS = 4096
"""Models whose rates are remembered (a bound against callers inventing model names)."""


@dataclass(frozen=True, slots=True)
class CostPolicy:
    """How the cost stage estimates (``stage_settings={"cost": CostPolicy(...)}``).

    ``default_output_tokens``: the output a request without ``max_tokens`` is assumed to
    produce when a budget reserves its worst case (1024, as the rate limiter assumes).
    ``estimate``: a function giving a request's :class:`TokenEstimate` (input and
    output), to replace the built-in four-characters-a-token rule with a real tokenizer.
    """

    default_output_tokens: int = 1024
    estimate: Callable[[Request], TokenEstimate] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        value = self.default_output_tokens
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"cost default_output_tokens must be an integer >= 0, got {value!r}")

    @classmethod
    def from_setting(cls, value: Any) -> CostPolicy | None:
        """Read ``stage_settings["cost"]`` by the rules every stage shares
        (:func:`~sluicegate.stage_settings.stage_policy`); None: the stage is off."""
        return stage_policy("cost", cls, value)


@dataclass(frozen=True, slots=True)
class Accounting:
    """What the client hands the cost stage (``settings["accounting"]``): its price
    table, its ledger and its budgets."""

    prices: PriceTable
    ledger: Ledger
    budget: Budget | None = None
    tag_budgets: Mapping[str, Budget] = field(default_factory=dict)


class CostStage:
    """The middleware. Build it with :func:`build`."""

    __slots__ = (
        "_budget",
        "_default_output",
        "_estimate",
        "_ledger",
        "_log",
        "_prices",
        "_rates",
        "_shared",
        "_tag_budgets",
        "_warned",
    )

    def __init__(
        self,
        accounting: Accounting,
        policy: CostPolicy,
        logger: Any = None,
        shared: SharedBudgets | None = None,
    ) -> None:
        self._prices = accounting.prices
        self._ledger = accounting.ledger
        self._budget = accounting.budget
        self._tag_budgets = dict(accounting.tag_budgets)
        self._default_output = policy.default_output_tokens
        self._estimate = policy.estimate
        self._log = logger if logger is not None else get_logger()
        self._rates: dict[str, CostRates | None] = {}
        self._warned: set[str] = set()
        self._shared = shared
        """With a shared store: budgets are reserved in it, across processes."""

    # -- prices ---------------------------------------------------------------------------

    def rates(self, model: str) -> CostRates | None:
        """The model's rates (None: no price, warned once), computed on first use."""
        try:
            return self._rates[model]
        except KeyError:
            pass
        price = self._prices.lookup(model)
        rates = CostRates.of(price) if price is not None else None
        if rates is None:
            self._warn_once("price.unknown", model)
        if len(self._rates) < _MAX_MODELS:
            self._rates[model] = rates
        return rates

    def _warn_once(self, event: str, model: str) -> None:
        key = f"{event}:{model}"
        if key in self._warned or len(self._warned) >= _MAX_MODELS:
            return
        self._warned.add(key)
        if event == "price.unknown":
            self._log.warning(
                event,
                model=model,
                cost="unknown",
                hint="add the model to a price file (Client(prices=...) or SLUICEGATE_PRICES)",
            )
        else:
            self._log.warning(event, model=model, cost="unknown")

    def price_response(self, response: Response) -> float | None:
        """What ``response`` cost: None when its model has no price or it reported no
        usage (a server that does not count tokens: unknown, not free)."""
        rates = self.rates(response.model)
        if rates is None:
            return None
        usage = response.usage
        if not usage.input_tokens and not usage.output_tokens:
            self._warn_once("usage.missing", response.model)
            return None
        return rates.cost(usage)

    # -- the stage ------------------------------------------------------------------------

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        metadata = request.metadata
        if self._budget is None and not self._tag_budgets and metadata.budget is None:
            budgets: tuple[Budget, ...] = ()
            reserved = 0
        else:
            budgets = self._budgets_for(request)
            if not budgets:
                reserved = 0
            elif self._shared is None:
                reserved = self._admit(request, budgets)
            else:
                reserved = await self._admit_shared(request, budgets, self._shared)
        try:
            reply = await call_next(request)
        except BaseException as exc:
            if budgets:
                self._end(request, budgets, reserved, 0.0)
            if isinstance(exc, Exception):
                self._ledger.record_error(request.model, metadata.tags, type(exc).__name__)
            raise
        if isinstance(reply, EventStream):
            charge = _StreamCharge(self, request, reply, budgets, reserved)
            return reply.observe(on_event=charge.count, on_close=charge.ended)
        return self.charge(request, reply, budgets, reserved)

    def charge(
        self, request: Request, response: Response, budgets: tuple[Budget, ...], reserved: int
    ) -> Response:
        """Price, record and settle an answered request; the response with its cost."""
        tags = request.metadata.tags
        if response.attempts == 0:  # replayed by the idempotency stage: nothing was sent
            if budgets:
                self._end(request, budgets, reserved, 0.0)
            self._ledger.record_replay(response.model, tags)
            return response.replace(cost=0.0)
        cost = self.price_response(response)
        self._ledger.record(response.model, tags, response.usage, cost)
        if budgets:
            self._settle(request, budgets, reserved, cost, response.model)
        return response.replace(cost=cost)

    def charge_cut(
        self,
        request: Request,
        error: BaseException | None,
        usage: Usage,
        chars: int,
        budgets: tuple[Budget, ...],
        reserved: int,
    ) -> None:
        """Charge a stream that ended before Done by the text counted so far."""
        model = request.model
        if isinstance(error, StreamError):
            model = f"{error.provider}/{error.model}" if error.provider else model
            chars = max(chars, len(error.partial_text))
        input_tokens = usage.input_tokens or self._input_estimate(request)
        output_tokens = max(usage.output_tokens, -(-chars // CHARS_PER_TOKEN))
        counted = Usage(
            input_tokens,
            output_tokens,
            usage.cached_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
        )
        rates = self.rates(model)
        cost = rates.cost(counted) if rates is not None else None
        if isinstance(error, StreamError):
            error.cost = cost
        kind = type(error).__name__ if error is not None else "StreamClosed"
        self._ledger.record_cut(model, request.metadata.tags, counted, cost, kind)
        if budgets:
            self._settle(request, budgets, reserved, cost, model)

    def release(
        self,
        request: Request,
        error: BaseException | None,
        budgets: tuple[Budget, ...],
        reserved: int,
    ) -> None:
        """A stream that failed before any event: nothing charged."""
        if budgets:
            self._end(request, budgets, reserved, 0.0)
        if isinstance(error, Exception):
            self._ledger.record_error(request.model, request.metadata.tags, type(error).__name__)

    # -- budgets --------------------------------------------------------------------------

    def _budgets_for(self, request: Request) -> tuple[Budget, ...]:
        found: list[Budget] = []
        if self._budget is not None:
            found.append(self._budget)
        if self._tag_budgets:
            for tag in request.metadata.tags:
                budget = self._tag_budgets.get(tag)
                if budget is not None and budget not in found:
                    found.append(budget)
        own = request.metadata.budget
        if own is not None:
            if not isinstance(own, Budget):
                raise ConfigError(f"budget= must be a sluicegate.Budget, got {type(own).__name__}")
            if own not in found:
                found.append(own)
        return tuple(found)

    def _worst_case(self, request: Request, budgets: tuple[Budget, ...]) -> tuple[float, str]:
        """The request's worst-case cost in USD (for the dearest of its model and its
        fallbacks) and the detail a refusal gives; raises UnknownPriceError."""
        if self._estimate is not None:
            input_tokens, output_tokens = self._estimate(request)
        else:
            input_tokens, output_tokens = estimate_tokens(request, self._default_output)
        worst = 0.0
        dearest = request.model
        for model in (request.model, *request.metadata.fallbacks):
            rates = self.rates(model)
            if rates is None:
                self._ledger.record_refused(request.model, request.metadata.tags)
                raise UnknownPriceError(model=model, budget=budgets[0].name)
            cost = rates.worst_case(input_tokens, output_tokens)
            if cost > worst:
                worst, dearest = cost, model
        return worst, f"{dearest}: ~{input_tokens} input + {output_tokens} output tokens at most"

    def _admit(self, request: Request, budgets: tuple[Budget, ...]) -> int:
        """Estimate the request's worst case and reserve it in every budget (or raise)."""
        worst, detail = self._worst_case(request, budgets)
        try:
            return admit(budgets, worst, request.model, detail)
        except Exception:
            self._ledger.record_refused(request.model, request.metadata.tags)
            raise

    async def _admit_shared(
        self, request: Request, budgets: tuple[Budget, ...], shared: SharedBudgets
    ) -> int:
        """As :meth:`_admit`, against the counts every process shares first; this
        process's own counts then hold the reservation too (they are part of the
        shared ones, so they have room)."""
        worst, detail = self._worst_case(request, budgets)
        try:
            await shared.reserve(request.metadata.request_id, budgets, worst, request.model, detail)
            units = to_units(worst)
            for budget in budgets:
                budget._reserved += units
                budget.admitted += 1
                budget.in_flight += 1
            return units
        except Exception:
            self._ledger.record_refused(request.model, request.metadata.tags)
            raise

    def _end(
        self, request: Request, budgets: tuple[Budget, ...], reserved: int, actual: float
    ) -> None:
        """Replace the reservation by the actual cost, here and in the shared store."""
        settle(budgets, reserved, actual)
        if self._shared is not None:
            self._shared.settle(request.metadata.request_id, budgets, actual)

    def _settle(
        self,
        request: Request,
        budgets: tuple[Budget, ...],
        reserved: int,
        cost: float | None,
        model: str,
    ) -> None:
        if cost is None:
            # an admitted model has a price, so the answer reported no usage: count the
            # reservation as spent, the side that keeps the limit
            cost = to_float(reserved)
        elif to_units(cost) > reserved:
            self._log.warning(
                "budget.overrun",
                model=model,
                cost=cost,
                reserved=to_float(reserved),
                budgets=[b.name for b in budgets],
                hint="set max_tokens, or a CostPolicy(estimate=...) that counts like the model",
            )
        self._end(request, budgets, reserved, cost)

    def _input_estimate(self, request: Request) -> int:
        if self._estimate is not None:
            return self._estimate(request).input_tokens
        return estimate_input_tokens(request)


class _StreamCharge:
    """Counts a stream's text as it passes (its ``on_event``) and charges the stream when
    it ends (its ``on_close``)."""

    __slots__ = (
        "_budgets",
        "_chars",
        "_request",
        "_reserved",
        "_stage",
        "_stream",
        "_usage",
    )

    def __init__(
        self,
        stage: CostStage,
        request: Request,
        stream: EventStream,
        budgets: tuple[Budget, ...],
        reserved: int,
    ) -> None:
        self._stage = stage
        self._request = request
        self._stream = stream
        self._budgets = budgets
        self._reserved = reserved
        self._chars = 0
        self._usage = Usage()

    def count(self, event: StreamEvent) -> None:
        kind = type(event)
        if kind is TextDelta:
            self._chars += len(event.text)  # type: ignore[union-attr]
        elif kind is ToolCallDelta:
            assert isinstance(event, ToolCallDelta)
            self._chars += len(event.arguments) + len(event.name or "")
        elif kind is UsageEvent:
            assert isinstance(event, UsageEvent)
            self._usage = self._usage.updated(event.usage)

    def ended(self, response: Response | None, error: BaseException | None) -> Response | None:
        """Done: the Response priced. Otherwise charge what the stream delivered, or
        nothing."""
        if response is not None:
            return self._stage.charge(self._request, response, self._budgets, self._reserved)
        if not isinstance(error, Exception):
            error = None  # cancelled: charged as a stream its reader closed
        # Charged: a stream closed by its reader (the provider was answering), and one
        # cut after it began. Not charged: one that failed before its first event.
        if error is None or self._stream.delivered or isinstance(error, StreamError):
            self._stage.charge_cut(
                self._request, error, self._usage, self._chars, self._budgets, self._reserved
            )
        else:
            self._stage.release(self._request, error, self._budgets, self._reserved)
        return None


def build(context: ChainContext) -> CostStage | None:
    """The cost stage from ``settings["cost"]`` (None → defaults, False → left out, which
    a client with a budget refuses: nothing would keep it)."""
    policy = CostPolicy.from_setting(context.settings.get("cost"))
    accounting = context.settings.get("accounting")
    if accounting is None:
        accounting = Accounting(PriceTable(), Ledger())
    if not isinstance(accounting, Accounting):
        raise ConfigError(f"settings['accounting'] must be an Accounting, got {accounting!r}")
    if policy is None:
        if accounting.budget is not None or accounting.tag_budgets:
            raise ConfigError(
                "the cost stage is turned off (stage_settings={'cost': False} or "
                "disable=['cost']) but the client has a budget: nothing would keep it"
            )
        return None
    shared = None
    if context.store is not None:
        from sluicegate.cost.shared_budget import SharedBudgets

        shared = SharedBudgets(context.store)
    return CostStage(accounting, policy, context.settings.get("logger"), shared)
