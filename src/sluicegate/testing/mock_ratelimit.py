"""Server-side rate limits for the mock: requests and tokens per minute, per model, with
the 429s and headers real providers send.

It plugs into the app as an admission check (:attr:`MockApp.admission_checks`) and adds
its headers to every answer it admitted. Deliberately *not* built on the client's GCRA
(:mod:`sluicegate.limits.gcra`): the mock is the referee the client's limiter is tested
against, so it is an independent, textbook token bucket kept in exact fractions, where a
bug in one cannot cancel out a bug in the other.

Rules, as OpenAI documents them
    Each model (per wire format) has one bucket for requests and one for tokens, holding
    ``burst_s`` seconds of the limit (60 by default: a full minute's allowance) and
    refilled continuously at the per-minute rate. A request is admitted only if both have
    room for it (one request; input plus output tokens, which the mock knows exactly
    before answering), and then both are charged; a refused request charges nothing. A
    request bigger than the whole token bucket is refused with ``x-should-retry: false``.

Time is read from ``clock`` (the server's, injectable so a test can share a
:class:`~sluicegate.clock.FakeClock` with the client and measure over virtual minutes).

Headers
    OpenAI routes: ``x-ratelimit-limit-{requests,tokens}``, ``-remaining-``, ``-reset-``
    (Go-style durations until the bucket is full: ``"6m0s"``, ``"20ms"``). Anthropic
    routes: ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}``, reset as an
    RFC 3339 time. A 429 adds ``retry-after`` (whole seconds, rounded up) and
    ``retry-after-ms`` (exact, rounded up): the time until the request would fit.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from fractions import Fraction
from typing import TYPE_CHECKING

from sluicegate.clock import AnyioClock, Clock
from sluicegate.testing.faults import ErrorReply, Provider, gemini_quota_details, provider_error

if TYPE_CHECKING:
    from sluicegate.testing.mock_config import MockConfig
    from sluicegate.testing.mock_wire import MockJob

__all__ = ["MockRateLimits", "format_duration"]

_NS_PER_MINUTE = 60_000_000_000


def format_duration(ns: int) -> str:
    """A Go-style duration as OpenAI writes its reset headers, rounded up to the
    millisecond: ``"20ms"``, ``"1.5s"``, ``"6m0s"``, ``"1h0m0s"``."""
    ms = -(-max(ns, 0) // 1_000_000)
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{minutes}m{seconds}"
    return seconds


class _Bucket:
    """``capacity`` units refilled at ``per_minute`` a minute; the level is exact."""

    __slots__ = ("capacity", "level", "per_minute", "updated_ns")

    def __init__(self, per_minute: int, capacity: int, now_ns: int) -> None:
        self.per_minute = per_minute
        self.capacity = capacity
        self.level = Fraction(capacity)
        self.updated_ns = now_ns

    def refill(self, now_ns: int) -> None:
        if now_ns > self.updated_ns:
            gained = Fraction((now_ns - self.updated_ns) * self.per_minute, _NS_PER_MINUTE)
            self.level = min(Fraction(self.capacity), self.level + gained)
            self.updated_ns = now_ns

    def wait_ns(self, cost: int) -> int:
        missing = cost - self.level
        if missing <= 0:
            return 0
        return math.ceil(missing * _NS_PER_MINUTE / self.per_minute)

    @property
    def remaining(self) -> int:
        return math.floor(self.level)

    @property
    def full_in_ns(self) -> int:
        return math.ceil((self.capacity - self.level) * _NS_PER_MINUTE / self.per_minute)


class MockRateLimits:
    """The server's limits: ``rpm`` requests and ``tpm`` tokens per minute per model (either
    may be None), buckets of ``burst_s`` seconds, time from ``clock``."""

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        *,
        burst_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not burst_s > 0:
            raise ValueError(f"burst_s must be > 0, got {burst_s}")
        self.rpm = rpm
        self.tpm = tpm
        self.burst_s = burst_s
        self.clock: Clock = clock if clock is not None else AnyioClock()
        self._buckets: dict[tuple[str, str], tuple[_Bucket | None, _Bucket | None]] = {}
        self.refused = 0
        """Requests refused with a 429 since the last reset."""

    @classmethod
    def from_config(cls, config: MockConfig) -> MockRateLimits:
        return cls(config.rpm, config.tpm, burst_s=config.rate_limit_burst_s, clock=config.clock)

    def reset(self) -> None:
        """Full buckets again, as after a long idle time."""
        self._buckets.clear()
        self.refused = 0

    def _now_ns(self) -> int:
        return round(self.clock.now() * 1_000_000_000)

    def _capacity(self, per_minute: int) -> int:
        return max(1, math.ceil(per_minute * self.burst_s / 60.0))

    def _for(self, job: MockJob, now_ns: int) -> tuple[_Bucket | None, _Bucket | None]:
        key = (job.provider, job.model)
        buckets = self._buckets.get(key)
        if buckets is None:
            buckets = self._buckets[key] = (
                _Bucket(self.rpm, self._capacity(self.rpm), now_ns) if self.rpm else None,
                _Bucket(self.tpm, self._capacity(self.tpm), now_ns) if self.tpm else None,
            )
        for bucket in buckets:
            if bucket is not None:
                bucket.refill(now_ns)
        return buckets

    def check(self, job: MockJob) -> ErrorReply | None:
        """The admission check: charge the job, or refuse it with a 429."""
        now = self._now_ns()
        requests, tokens = self._for(job, now)
        cost = job.input_tokens + job.output_tokens
        if tokens is not None and cost > tokens.capacity:
            self.refused += 1
            return self._refusal(
                job,
                "tokens",
                f"Request too large for {job.model} (mock) on tokens per min (TPM): "
                f"Limit {self.tpm}, Requested {cost}. The input or output tokens must be "
                f"reduced in order to run successfully.",
                None,
            )
        wait_requests = requests.wait_ns(1) if requests is not None else 0
        wait_tokens = tokens.wait_ns(cost) if tokens is not None else 0
        if wait_requests or wait_tokens:
            self.refused += 1
            which = "tokens" if wait_tokens >= wait_requests else "requests"
            wait = max(wait_requests, wait_tokens)
            limit = self.tpm if which == "tokens" else self.rpm
            bucket = tokens if which == "tokens" else requests
            assert bucket is not None
            used = bucket.capacity - bucket.remaining
            asked = cost if which == "tokens" else 1
            return self._refusal(
                job,
                which,
                f"Rate limit reached for {job.model} (mock) on {which} per min "
                f"({'TPM' if which == 'tokens' else 'RPM'}): Limit {limit}, Used {used}, "
                f"Requested {asked}. Please try again in {format_duration(wait)}.",
                wait,
            )
        if requests is not None:
            requests.level -= 1
        if tokens is not None:
            tokens.level -= cost
        return None

    def _refusal(self, job: MockJob, which: str, message: str, wait_ns: int | None) -> ErrorReply:
        headers = self.headers(job)
        if wait_ns is None:
            headers["x-should-retry"] = "false"
        else:
            headers["retry-after"] = str(-(-wait_ns // 1_000_000_000))
            headers["retry-after-ms"] = str(-(-wait_ns // 1_000_000))
        if job.provider == "openai":
            return provider_error(
                "openai", 429, which, message, code="rate_limit_exceeded", headers=headers
            )
        if job.provider == "gemini":
            return _gemini_refusal(which, message, wait_ns)
        return provider_error(
            "anthropic",
            429,
            "rate_limit_error",
            message,
            request_id=job.request_id,
            headers=headers,
        )

    def headers(self, job: MockJob) -> dict[str, str]:
        """The rate-limit headers for an answer to ``job`` (the state right now)."""
        now = self._now_ns()
        requests, tokens = self._for(job, now)
        return _headers(job.provider, requests, tokens, self.rpm, self.tpm)


def _gemini_refusal(which: str, message: str, wait_ns: int | None) -> ErrorReply:
    """Gemini's refusal: no headers (the API sends none), the per-minute quota and the
    wait in the body's details; a request larger than the limit itself is a 400, as
    Gemini answers a prompt over its token limit."""
    if wait_ns is None:
        return provider_error("gemini", 400, "INVALID_ARGUMENT", message)
    quota = f"GenerateContent{'InputTokens' if which == 'tokens' else 'Requests'}PerMinute"
    return provider_error(
        "gemini",
        429,
        "RESOURCE_EXHAUSTED",
        message,
        details=gemini_quota_details(quota + "PerProjectPerModel", wait_ns / 1e9),
    )


def _headers(
    provider: Provider,
    requests: _Bucket | None,
    tokens: _Bucket | None,
    rpm: int | None,
    tpm: int | None,
) -> dict[str, str]:
    headers: dict[str, str] = {}
    if provider == "gemini":
        return headers  # Gemini reports no limits in headers
    for what, bucket, limit in (("requests", requests, rpm), ("tokens", tokens, tpm)):
        if bucket is None or limit is None:
            continue
        if provider == "openai":
            headers[f"x-ratelimit-limit-{what}"] = str(limit)
            headers[f"x-ratelimit-remaining-{what}"] = str(bucket.remaining)
            headers[f"x-ratelimit-reset-{what}"] = format_duration(bucket.full_in_ns)
        else:
            # whole seconds, rounded up: a reset reported early would invite a 429
            at = math.ceil(time.time() + bucket.full_in_ns / 1e9)
            reset = datetime.fromtimestamp(at, UTC)
            headers[f"anthropic-ratelimit-{what}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{what}-remaining"] = str(bucket.remaining)
            headers[f"anthropic-ratelimit-{what}-reset"] = reset.isoformat(
                timespec="seconds"
            ).replace("+00:00", "Z")
    return headers
