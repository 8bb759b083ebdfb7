"""How rate limits are configured: :class:`Limit` rules, :class:`Adaptive` settings, and
:class:`RateLimits`, the value passed as ``stage_settings={"rate_limit": ...}``.

Scopes say which requests share one set of buckets:

=====================  ==============================================================
``"openai/gpt-4o"``    that model alone
``"openai/*"``         every model of the provider, each with its own buckets (OpenAI's
                       limits are per model)
``"openai"``           the provider as a whole: all its models share the buckets
``"*/*"`` / ``"*"``    every model / every provider, each separately
``"key:openai"``       the API key provider ``openai`` uses, shared by every provider
                       configured with the same key (an organisation's limit)
``"key:*"``            every distinct API key separately
=====================  ==============================================================

A request is limited by every rule that matches it; all of them must have room.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sluicegate.errors import ConfigError
from sluicegate.estimate import TokenEstimate
from sluicegate.stage_settings import ExtraForm, stage_policy
from sluicegate.types import Request

__all__ = ["Adaptive", "Limit", "RateLimits"]


def _positive(owner: str, name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{owner}: {name} must be a whole number >= 1, got {value!r}")


@dataclass(frozen=True, slots=True)
class Limit:
    """Limits for one scope (see the module docstring for scope syntax).

    ``rpm`` and the ``*tpm`` values are per minute, refilled continuously. ``burst_s``
    is how much of that may leave at once, in seconds of the rate: the default, 0.1,
    paces requests evenly (1200 rpm leaves as 20 a second, at most 2 at once), which
    costs nothing against a per-minute window and avoids the 429s of the per-second
    limiters in front of many APIs (nginx ``limit_req``, gateways, OpenAI's quantized
    limits); ``burst_s=60`` lets a whole minute's allowance go out at once, as
    providers' own buckets would allow. A request's tokens may exceed a token burst:
    it waits until the bucket has drained and is then charged in full, so tokens are
    paced too; only a request larger than a whole minute's tokens can never be sent
    (:class:`RequestTooLargeError`). ``tpm`` counts input plus output tokens;
    ``input_tpm`` and ``output_tpm`` count them apart, for providers that limit them apart
    (Anthropic). ``concurrency`` caps requests in flight (a stream is in flight until it
    ends or is closed).
    """

    scope: str
    rpm: int | None = None
    tpm: int | None = None
    input_tpm: int | None = None
    output_tpm: int | None = None
    concurrency: int | None = None
    burst_s: float = 0.1

    def __post_init__(self) -> None:
        where = f"rate limit {self.scope!r}"
        if not isinstance(self.scope, str) or not _valid_scope(self.scope):
            raise ConfigError(
                f"{where}: scope must be 'provider', 'provider/model', 'provider/*', '*', "
                f"'*/*', 'key:provider' or 'key:*'"
            )
        for name in ("rpm", "tpm", "input_tpm", "output_tpm", "concurrency"):
            _positive(where, name, getattr(self, name))
        if not (math.isfinite(self.burst_s) and self.burst_s > 0):
            raise ConfigError(f"{where}: burst_s must be > 0, got {self.burst_s!r}")
        if all(
            getattr(self, n) is None
            for n in ("rpm", "tpm", "input_tpm", "output_tpm", "concurrency")
        ):
            raise ConfigError(
                f"{where}: give at least one of rpm, tpm, input_tpm, output_tpm or concurrency"
            )

    def burst_of(self, per_minute: int) -> int:
        """The bucket size for a per-minute limit: ``burst_s`` seconds of it, at least 1."""
        return max(1, math.ceil(per_minute * self.burst_s / 60.0))

    def fit_of(self, per_minute: int) -> int:
        """The largest single charge ever admitted: a whole minute's allowance, or the
        burst if that is larger (a request bigger than the provider's per-minute limit
        is refused by the provider however long it waits)."""
        return max(per_minute, self.burst_of(per_minute))

    @property
    def has_rate(self) -> bool:
        """Whether it limits requests or tokens per minute (not only concurrency)."""
        return any(v is not None for v in (self.rpm, self.tpm, self.input_tpm, self.output_tpm))


def _valid_scope(scope: str) -> bool:
    if scope.startswith("key:"):
        rest = scope[4:]
        return bool(rest) and "/" not in rest
    provider, slash, model = scope.partition("/")
    if not provider or (slash and not model):
        return False
    return not (provider == "*" and slash and model != "*")


@dataclass(frozen=True, slots=True)
class Adaptive:
    """How the rate actually sent to a model is found from the server's answers, under
    any configured limit (see :mod:`sluicegate.limits.adaptive` for the whole story).

    - ``slow_start``, ``initial_rps``: whether a model with no configured rate starts
      paced at ``initial_rps``, doubling every round trip (at least every
      ``slow_start_period_s``) while the pace is what holds requests back; it goes
      dormant (unpaced) once it holds nothing back.
    - ``decrease``: the cut on congestion when too few answers came to measure what the
      server lets through (else the cut is to 95% of that, by 5% to 50%).
    - ``increase``: after a cut the rate climbs ``increase`` times the cut rate per
      second while requests are held back.
    - ``refusal_share``: a 429 that names a wait is congestion only when more than this
      share of recent requests were refused (plus two standard deviations, at least
      two); a 429 that names none always is. 0: every 429 is congestion.
    - ``storm_refusals``: this many refusals in a row, with no answer between, are a
      storm: the model is held for a doubling pause (1 s to 30 s, or the wait named).
    - ``min_rpm`` / ``max_rpm``: bounds of the rate; ``low_remaining``: with rate-limit
      headers, the rate is capped at the server's refill rate once less than this share
      of its limit remains; ``burst_s``: seconds of the rate that may leave at once.
    """

    decrease: float = 0.7
    increase: float = 0.02
    min_rpm: float = 1.0
    max_rpm: float | None = None
    low_remaining: float = 0.1
    burst_s: float = 0.1
    refusal_share: float = 0.25
    initial_rps: float = 10.0
    slow_start_period_s: float = 0.1
    storm_refusals: int = 8
    slow_start: bool = False
    """Whether a model with no configured rate starts paced and ramps up (slow start)
    instead of unpaced until the first congestion signal. Off for a library client
    (interactive calls and a steady high-concurrency load pay nothing for it), on in
    ``sluicegate run``, whose first ``--concurrency`` requests would otherwise reach a
    per-second limiter as one burst."""

    def __post_init__(self) -> None:
        if not 0 < self.decrease < 1:
            raise ConfigError(f"adaptive decrease must be in (0, 1), got {self.decrease!r}")
        if not self.increase > 0:
            raise ConfigError(f"adaptive increase must be > 0, got {self.increase!r}")
        if not self.min_rpm > 0 or (self.max_rpm is not None and self.max_rpm < self.min_rpm):
            raise ConfigError("adaptive needs 0 < min_rpm <= max_rpm")
        if not 0 <= self.low_remaining < 1:
            raise ConfigError(f"low_remaining must be in [0, 1), got {self.low_remaining!r}")
        if not self.burst_s > 0:
            raise ConfigError(f"adaptive burst_s must be > 0, got {self.burst_s!r}")
        if not 0 <= self.refusal_share < 1:
            raise ConfigError(
                f"adaptive refusal_share must be in [0, 1), got {self.refusal_share!r}"
            )
        if not (math.isfinite(self.initial_rps) and self.initial_rps > 0):
            raise ConfigError(f"adaptive initial_rps must be > 0, got {self.initial_rps!r}")
        if not (math.isfinite(self.slow_start_period_s) and self.slow_start_period_s > 0):
            raise ConfigError(
                f"adaptive slow_start_period_s must be > 0, got {self.slow_start_period_s!r}"
            )
        if isinstance(self.storm_refusals, bool) or not (
            isinstance(self.storm_refusals, int) and self.storm_refusals >= 2
        ):
            raise ConfigError(
                f"adaptive storm_refusals must be a whole number >= 2, got {self.storm_refusals!r}"
            )


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The rate-limit stage's settings.

    ``rules``: fixed :class:`Limit` s, upper bounds. ``adaptive``: the rate found from the
    server's answers, per model, under whatever the rules allow (True: default
    :class:`Adaptive`, False: off: only the rules apply, and a 429 only holds the model
    for its Retry-After).
    ``default_output_tokens``: the output estimate for a request without ``max_tokens``
    (never charged beyond a bucket's size). ``estimate``: replaces the built-in token
    estimate (:mod:`sluicegate.estimate`) with your own tokenizer.
    """

    rules: Sequence[Limit] = ()
    adaptive: bool | Adaptive = True
    default_output_tokens: int = 1024
    estimate: Callable[[Request], TokenEstimate] | None = field(default=None, compare=False)
    max_hold_s: float = 60.0
    """The longest a request waits for a server-requested hold (Retry-After, a storm's
    pause). A longer one is not slept on: the call fails at once with a
    :class:`~sluicegate.errors.RateLimitedError` whose ``retry_after`` is the wait left,
    as it does when the hold would outlast the request's deadline."""

    def __post_init__(self) -> None:
        for rule in self.rules:
            if not isinstance(rule, Limit):
                raise ConfigError(f"rate limit rules must be Limit values, got {rule!r}")
        _positive("rate limits", "default_output_tokens", self.default_output_tokens)
        hold = self.max_hold_s
        if isinstance(hold, bool) or not (
            isinstance(hold, int | float) and math.isfinite(hold) and hold >= 0
        ):
            raise ConfigError(f"rate limits: max_hold_s must be a number >= 0, got {hold!r}")

    @property
    def adaptive_settings(self) -> Adaptive | None:
        if self.adaptive is True:
            return Adaptive()
        return self.adaptive or None

    @classmethod
    def from_setting(cls, value: Any) -> RateLimits | None:
        """Read ``stage_settings["rate_limit"]`` by the rules every stage shares
        (:func:`~sluicegate.stage_settings.stage_policy`), and one :class:`Limit` or a
        list of them for ``rules``; None: the stage is off."""
        return stage_policy("rate_limit", cls, value, _RULES)


def _rules(value: Any) -> RateLimits | None:
    if isinstance(value, Limit):
        return RateLimits(rules=(value,))
    if isinstance(value, list | tuple):
        return RateLimits(rules=tuple(value))  # which refuses what is not a Limit
    return None


_RULES = ExtraForm("a Limit, a list of Limits", _rules)
"""The rate limiter's shorthand: ``stage_settings={"rate_limit": [Limit(...)]}`` is
``RateLimits(rules=[...])``."""
