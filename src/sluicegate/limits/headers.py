"""What a server says about its rate limits, read from response headers.

OpenAI sends, per model, ``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-requests``
and ``x-ratelimit-reset-requests`` (the time until the bucket is full again, as a Go-style
duration: ``"1s"``, ``"6m0s"``, ``"20ms"``), and the same three for ``-tokens``.
Anthropic sends ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
remaining,reset}``, where reset is an RFC 3339 timestamp. Both may add ``retry-after``
(and OpenAI ``retry-after-ms``) on a 429.

Everything is parsed into integer nanoseconds and counts; anything unreadable is None
rather than an error, because a limiter must never fail a request over a header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sluicegate.retry.retry_after import parse_retry_after

__all__ = ["LimitReading", "ServerLimits", "parse_duration_ns", "parse_reset_ns", "read_headers"]

_UNIT_NS: Final = {
    "h": 3_600_000_000_000,
    "m": 60_000_000_000,
    "s": 1_000_000_000,
    "ms": 1_000_000,
    "us": 1_000,
    "µs": 1_000,
    "ns": 1,
}
_PART = re.compile(r"(\d+)(?:\.(\d+))?(ns|us|µs|ms|h|m|s)")
_MAX_NS: Final = 24 * 3_600_000_000_000
"""A reset further away than a day is taken as garbage."""


def parse_duration_ns(text: str) -> int | None:
    """``"6m0s"`` -> 360_000_000_000; ``"20ms"`` -> 20_000_000; a bare number is seconds.
    Exact (no float on the way); None for anything else, negative or above a day."""
    text = text.strip()
    if not text:
        return None
    total = 0
    position = 0
    for match in _PART.finditer(text):
        if match.start() != position:
            return None
        whole, fraction, unit = match.groups()
        scale = _UNIT_NS[unit]
        total += int(whole) * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        position = match.end()
    if position == 0:
        return _seconds_ns(text)
    if position != len(text):
        return None
    return total if total <= _MAX_NS else None


def _seconds_ns(text: str) -> int | None:
    whole, dot, fraction = text.partition(".")
    if not whole.isdigit() or (dot and not fraction.isdigit()):
        return None
    value = int(whole) * 1_000_000_000
    if fraction:
        value += int(fraction[:9].ljust(9, "0"))
    return value if value <= _MAX_NS else None


def parse_reset_ns(text: str, wall_now: float) -> int | None:
    """A reset as nanoseconds from now: a duration (OpenAI), a number of seconds, or an
    RFC 3339 timestamp (Anthropic; ``wall_now`` is Unix time). A time in the past is 0."""
    value = parse_duration_ns(text)
    if value is not None:
        return value
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    delta = round((when.timestamp() - wall_now) * 1_000_000_000)
    return min(max(delta, 0), _MAX_NS)


def _count(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


@dataclass(frozen=True, slots=True)
class LimitReading:
    """One dimension as the server sees it: its limit, what is left, and the time until
    it is fully replenished; any of them may be missing."""

    limit: int | None
    remaining: int | None
    reset_ns: int | None

    def rate_per_s(self) -> float | None:
        """The server's refill rate in units per second: what is missing from a full
        bucket over the time it takes to refill; with a full bucket, ``limit`` a minute."""
        if self.limit is None or self.limit <= 0:
            return None
        if self.remaining is not None and self.reset_ns and self.remaining < self.limit:
            return (self.limit - self.remaining) * 1e9 / self.reset_ns
        return self.limit / 60.0


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Every rate-limit header of one answer."""

    requests: LimitReading | None = None
    tokens: LimitReading | None = None
    input_tokens: LimitReading | None = None
    output_tokens: LimitReading | None = None
    retry_after_ns: int | None = None

    @property
    def empty(self) -> bool:
        return (
            self.requests is None
            and self.tokens is None
            and self.input_tokens is None
            and self.output_tokens is None
            and self.retry_after_ns is None
        )


def _reading(
    headers: Mapping[str, str], limit: str, remaining: str, reset: str, wall_now: float
) -> LimitReading | None:
    raw_limit, raw_remaining, raw_reset = (
        headers.get(limit),
        headers.get(remaining),
        headers.get(reset),
    )
    if raw_limit is None and raw_remaining is None and raw_reset is None:
        return None
    return LimitReading(
        _count(raw_limit),
        _count(raw_remaining),
        parse_reset_ns(raw_reset, wall_now) if raw_reset is not None else None,
    )


def read_headers(headers: Mapping[str, str], wall_now: float) -> ServerLimits:
    """Every rate-limit header in ``headers`` (lower-case names), OpenAI's or Anthropic's."""
    if "x-ratelimit-remaining-requests" in headers or "x-ratelimit-remaining-tokens" in headers:
        requests = _reading(
            headers,
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
            wall_now,
        )
        tokens = _reading(
            headers,
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
            wall_now,
        )
        input_tokens = output_tokens = None
    else:
        prefix = "anthropic-ratelimit-"
        requests, tokens, input_tokens, output_tokens = (
            _reading(
                headers,
                f"{prefix}{what}-limit",
                f"{prefix}{what}-remaining",
                f"{prefix}{what}-reset",
                wall_now,
            )
            for what in ("requests", "tokens", "input-tokens", "output-tokens")
        )
    retry_after = parse_retry_after(headers, wall_now)
    return ServerLimits(
        requests,
        tokens,
        input_tokens,
        output_tokens,
        round(retry_after * 1_000_000_000) if retry_after is not None else None,
    )
