"""Reading a server's requested wait from ``retry-after-ms`` and ``Retry-After``.

Servers send the wait in milliseconds (OpenAI's ``retry-after-ms``), in seconds, or as an
HTTP date; some send garbage, negative numbers or absurd values. One parser, used by every
provider codec, turns all of them into a bounded number of seconds or None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_S = 3600.0
"""A wait longer than this is taken as a server bug and capped."""


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait, in ``[0, MAX_RETRY_AFTER_S]``, or None when the server gave no
    usable value. ``headers`` has lower-case names; ``now`` is Unix time, for HTTP dates."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        value = _number(ms)
        if value is not None and value >= 0:
            return min(value / 1000.0, MAX_RETRY_AFTER_S)
    raw = headers.get("retry-after")
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
