"""Which dimensions a model's requests go through: rules resolved to buckets, once per
model.

A rule's scope may stand for many bucket sets (``"openai/*"`` has one per model); the
:class:`Planner` creates each bucket set on first use and keeps it, so every model that
shares a scope shares the very same bucket objects. The result for one model is a
:class:`Plan`: a flat tuple of dimensions the gate admits into, plus the indexes the stage
needs afterwards (which marks are token charges to correct, which are concurrency slots to
release). It is computed on a model's first request and cached by model name, so the hot
path does one dict lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sluicegate.clock import Clock
from sluicegate.errors import ConfigError
from sluicegate.limits.adaptive import AdaptiveRate
from sluicegate.limits.config import Limit, RateLimits
from sluicegate.limits.dimensions import (
    INPUT_TOKENS,
    KIND_NAMES,
    OUTPUT_TOKENS,
    REQUESTS,
    TOKENS,
    ConcurrencyDimension,
    Dimension,
    HoldDimension,
    RateDimension,
)
from sluicegate.limits.errors import RequestTooLargeError
from sluicegate.limits.gcra import NS_PER_SECOND
from sluicegate.limits.headers import ServerLimits

if TYPE_CHECKING:
    from sluicegate.providers.base import BoundProvider
    from sluicegate.secrets import Secret

__all__ = ["Plan", "Planner"]

_TOKEN_KINDS = (TOKENS, INPUT_TOKENS, OUTPUT_TOKENS)
_UNIT = {TOKENS: "tokens", INPUT_TOKENS: "input tokens", OUTPUT_TOKENS: "output tokens"}


class Plan:
    """One model's dimensions and what the stage needs to know about them."""

    __slots__ = (
        "adaptive",
        "adaptive_index",
        "capacity",
        "concurrency",
        "dimensions",
        "dormant_only",
        "hold",
        "model",
        "needs_tokens",
        "per_model",
        "timed",
        "tokens",
    )

    def __init__(
        self,
        model: str,
        dimensions: Sequence[Dimension],
        hold: HoldDimension,
        adaptive: AdaptiveRate | None,
    ) -> None:
        self.model = model
        self.dimensions = tuple(dimensions)
        self.hold = hold
        self.adaptive = adaptive
        self.adaptive_index = self.dimensions.index(adaptive) if adaptive is not None else -1
        self.tokens: tuple[tuple[int, RateDimension], ...] = tuple(
            (i, d)
            for i, d in enumerate(self.dimensions)
            if isinstance(d, RateDimension) and d.kind in _TOKEN_KINDS
        )
        """(index, dimension) of every token bucket: their marks are corrected later."""
        self.concurrency = tuple(d for d in self.dimensions if isinstance(d, ConcurrencyDimension))
        self.per_model = tuple(
            d for d in self.dimensions if isinstance(d, RateDimension) and d.per_model
        )
        self.needs_tokens = bool(self.tokens)
        self.timed = any(isinstance(d, RateDimension) for d in self.dimensions)
        """Whether admission always needs the time (else only once held or adaptive)."""
        self.dormant_only = adaptive is not None and len(self.dimensions) == 2
        """Nothing but the adaptive rate and the hold: while both are idle, the stage
        takes a path that only counts the request."""
        # the smallest bucket of each token kind, and its dimension (for the error)
        self.capacity: dict[int, RateDimension] = {}
        for _, dimension in self.tokens:
            best = self.capacity.get(dimension.kind)
            if best is None or dimension.fit < best.fit:
                self.capacity[dimension.kind] = dimension

    def __repr__(self) -> str:
        return f"<Plan {self.model}: {list(self.dimensions)}>"

    def output_room(self, input_tokens: int) -> int | None:
        """The most output tokens any charge can carry next to ``input_tokens``: how far a
        default output estimate (no ``max_tokens``) may go without failing the request."""
        room: int | None = None
        total = self.capacity.get(TOKENS)
        if total is not None:
            room = total.fit - input_tokens
        output = self.capacity.get(OUTPUT_TOKENS)
        if output is not None:
            room = output.fit if room is None else min(room, output.fit)
        return room

    def check_fits(self, costs: Sequence[int]) -> None:
        """Raise :class:`RequestTooLargeError` if a cost exceeds a bucket's size."""
        for kind, dimension in self.capacity.items():
            cost = costs[kind]
            if cost > dimension.fit:
                raise RequestTooLargeError(
                    scope=dimension.label,
                    dimension=KIND_NAMES[kind],
                    unit=_UNIT[kind],
                    cost=cost,
                    capacity=dimension.fit,
                )

    def observe(self, limits: ServerLimits, now_ns: int) -> None:
        """Believe a server's ``remaining`` where it is lower than this model's own
        buckets', and let the adaptive rate react to it."""
        for dimension in self.per_model:
            kind = dimension.kind
            reading = (
                limits.requests
                if kind == REQUESTS
                else limits.tokens
                if kind == TOKENS
                else limits.input_tokens
                if kind == INPUT_TOKENS
                else limits.output_tokens
            )
            if reading is not None and reading.remaining is not None:
                dimension.hold_remaining(reading.remaining, now_ns)
        if self.adaptive is not None:
            hold = self.adaptive.observe(limits, now_ns)
            if hold:
                self.hold.hold_until(now_ns + hold)


class Planner:
    """Resolves rules into shared buckets and builds (and caches) each model's plan."""

    def __init__(
        self, settings: RateLimits, providers: Mapping[str, BoundProvider], clock: Clock
    ) -> None:
        self._clock = clock
        self._rules = tuple(settings.rules)
        self._adaptive = settings.adaptive_settings
        self._max_hold_ns = round(settings.max_hold_s * NS_PER_SECOND)
        # the client's own mapping, read when a model's plan is made rather than copied,
        # so a provider a plugin registered later adds is limited by this same planner
        self._providers = providers
        for rule in self._rules:
            named = rule.scope[4:] if rule.scope.startswith("key:") else None
            if named is not None and named != "*" and named not in providers:
                known = ", ".join(sorted(providers)) or "none"
                raise ConfigError(
                    f"rate limit {rule.scope!r}: no provider named {named!r} (known: {known})"
                )
        self._scopes: dict[tuple[int, object], tuple[Dimension, ...]] = {}
        self.plans: dict[str, Plan] = {}

    def _credential(self, provider: str) -> Secret | None:
        bound = self._providers.get(provider)
        return None if bound is None else bound.credential

    @property
    def active(self) -> bool:
        """Whether any request could be limited at all."""
        return bool(self._rules) or self._adaptive is not None

    def plan(self, model: str) -> Plan:
        plan = self.plans.get(model)
        if plan is None:
            plan = self.plans[model] = self._build(model)
        return plan

    def _instance(self, index: int, rule: Limit, model: str) -> tuple[object, str, bool] | None:
        """Which bucket set of ``rule`` a request for ``model`` uses: its key, its label,
        and whether it counts one model alone; None if the rule does not apply."""
        provider = model.partition("/")[0]
        scope = rule.scope
        if scope.startswith("key:"):
            credential = self._credential(provider)
            named = scope[4:]
            if named == "*":
                key = credential if credential is not None else f"provider:{provider}"
                return key, f"key of {provider}", False
            if credential is None or credential != self._credential(named):
                return None
            return scope, scope, False
        head, slash, tail = scope.partition("/")
        if head != "*" and head != provider:
            return None
        if not slash:
            return provider, provider, False
        if tail == "*" or tail == model.partition("/")[2]:
            return model, model, True
        return None

    def _dimensions(self, rule: Limit, label: str, per_model: bool) -> tuple[Dimension, ...]:
        made: list[Dimension] = []
        for kind, per_minute in (
            (REQUESTS, rule.rpm),
            (TOKENS, rule.tpm),
            (INPUT_TOKENS, rule.input_tpm),
            (OUTPUT_TOKENS, rule.output_tpm),
        ):
            if per_minute is not None:
                made.append(
                    RateDimension(
                        kind,
                        label,
                        per_minute,
                        rule.burst_of(per_minute),
                        per_model=per_model,
                        fit=rule.fit_of(per_minute),
                    )
                )
        if rule.concurrency is not None:
            made.append(ConcurrencyDimension(label, rule.concurrency))
        return tuple(made)

    def _build(self, model: str) -> Plan:
        dimensions: list[Dimension] = []
        rated = False
        ceiling: float | None = None
        for index, rule in enumerate(self._rules):
            instance = self._instance(index, rule, model)
            if instance is None:
                continue
            key, label, per_model = instance
            scope = self._scopes.get((index, key))
            if scope is None:
                scope = self._scopes[(index, key)] = self._dimensions(rule, label, per_model)
            dimensions.extend(d for d in scope if d not in dimensions)
            rated = rated or rule.has_rate
            if rule.rpm is not None:
                rps = rule.rpm / 60.0
                ceiling = rps if ceiling is None else min(ceiling, rps)
        adaptive = None
        if self._adaptive is not None:
            # under a configured rate it starts dormant (the rule paces) and never goes
            # above it; with none it starts in slow start
            adaptive = AdaptiveRate(
                model,
                self._adaptive,
                self._clock,
                ceiling=ceiling,
                slow_start=not rated and self._adaptive.slow_start,
            )
            dimensions.append(adaptive)
        hold = HoldDimension(model, self._max_hold_ns)
        dimensions.append(hold)
        return Plan(model, dimensions, hold, adaptive)
