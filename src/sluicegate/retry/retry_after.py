"""Reading a server's requested wait from ``retry-after-ms`` and ``Retry-After``, and from
the ``llm_provider-`` copies a LiteLLM relay passes on.

Servers send the wait in milliseconds (OpenAI's ``retry-after-ms``), in seconds, or as an
HTTP date; some send garbage, negative numbers or absurd values. One parser, used by every
provider codec (and the adaptive rate limiter), turns all of them into a bounded number of
seconds or None.

A LiteLLM proxy answers a rate-limited call with its own ``retry-after`` (often ``0``) or
none, and relays the upstream provider's real wait as ``llm_provider-retry-after`` (and
sometimes ``llm_provider-retry-after-ms``): its prefix for every upstream header. Read
alone, that ``0`` would make a client hammer the proxy while the upstream asked for
seconds, so the order is ``retry-after-ms``; ``retry-after`` when it names a wait above 0;
``llm_provider-retry-after-ms``; ``llm_provider-retry-after``; and only then a
``retry-after`` of 0 (what a server without a relay means by it: retry now).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_S = 7 * 86_400.0
"""A wait longer than a week is taken as a server bug and capped (a day, a quota gone
until tomorrow, is real: the retry and rate-limit stages refuse to sleep on it and the
error carries it whole)."""

RELAYED_PREFIX = "llm_provider-"
"""How a LiteLLM proxy names the headers it relays from the upstream provider."""


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _milliseconds(raw: str | None) -> float | None:
    """A ``*-retry-after-ms`` value in seconds, or None when absent or unusable."""
    if raw is None:
        return None
    value = _number(raw)
    if value is None or value < 0:
        return None
    return min(value / 1000.0, MAX_RETRY_AFTER_S)


def _seconds(raw: str | None, now: float) -> float | None:
    """A ``Retry-After`` value (seconds or an HTTP date) in seconds, or None when absent or
    unusable. A date in the past is 0: the server's time to wait has passed."""
    if raw is None:
        return None
    value = _number(raw)
    if value is None:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        value = when.timestamp() - now
        return min(max(value, 0.0), MAX_RETRY_AFTER_S)
    if value < 0:
        return None
    return min(value, MAX_RETRY_AFTER_S)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait, in ``[0, MAX_RETRY_AFTER_S]``, or None when the server gave no
    usable value. ``headers`` has lower-case names; ``now`` is Unix time, for HTTP dates.
    The first usable header in the module docstring's order wins; an unusable one (garbage,
    negative) is skipped, as if absent."""
    wait = _milliseconds(headers.get("retry-after-ms"))
    if wait is not None:
        return wait
    plain = _seconds(headers.get("retry-after"), now)
    if plain:  # above 0; a 0 may be a relay's placeholder for the upstream's real wait
        return plain
    wait = _milliseconds(headers.get(RELAYED_PREFIX + "retry-after-ms"))
    if wait is not None:
        return wait
    wait = _seconds(headers.get(RELAYED_PREFIX + "retry-after"), now)
    if wait is not None:
        return wait
    return plain  # 0.0 (retry now) or None
