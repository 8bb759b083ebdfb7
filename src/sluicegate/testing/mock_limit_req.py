"""An nginx ``limit_req`` in front of the mock: ``limit_req zone=... burst=B nodelay`` with
``limit_req_status 429``, as many self-hosted relays put in front of a model server.

Its 429 is not a provider's: an HTML page from nginx, with no ``Retry-After`` and no
rate-limit headers, so a client has to back off with nothing to go on. That is what this
module lets tests aim at. It plugs into the app as an admission check
(:attr:`MockApp.admission_checks`), ahead of the provider-side limits of
:mod:`~sluicegate.testing.mock_ratelimit` (nginx refuses before the provider sees
anything).

The rule, as ``ngx_http_limit_req_module`` applies it
    nginx keeps, per key, ``excess`` (requests queued beyond the rate) and the time of the
    last admitted request. A key seen for the first time is admitted with ``excess = 0``.
    After that, for a request arriving ``elapsed`` seconds after the last admitted one::

        excess' = max(excess - rate * elapsed + 1, 0)

    If ``excess' > burst`` the request is refused and nothing changes; otherwise it is
    admitted and ``excess'``, ``now`` are stored. So ``burst + 1`` requests may arrive at
    one instant, then one per ``1 / rate`` seconds. nginx counts in milli-requests and
    milliseconds; here time is integer nanoseconds and ``excess`` a Fraction, so the
    limiter is exact (a test can step to the nanosecond where a request fits).

One limiter for the whole server: nginx keys by client address, and every loopback client
is the same address. Deliberately independent of :mod:`sluicegate.limits`: the mock is the
referee the client is tested against.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

from sluicegate.clock import AnyioClock, Clock
from sluicegate.testing.faults import ErrorReply

if TYPE_CHECKING:
    from sluicegate.testing.mock_wire import MockJob

__all__ = ["NGINX_429_BODY", "LimitReq", "exact_rate"]

NGINX_429_BODY = (
    b"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    b"<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
"""nginx's built-in page for a 429, byte for byte."""

_NS_PER_S = 1_000_000_000
# Content-type set as a header so that no charset is appended: nginx sends none.
_REFUSAL = ErrorReply(
    429, {"content-type": "text/html"}, NGINX_429_BODY, media_type="text/html", gateway=True
)


def exact_rate(rate: float | Fraction) -> Fraction:
    """A rate as the Fraction its writer meant: ``0.1`` is 1/10, not the binary float
    nearest to it (which would put the nanosecond a request fits off by a little)."""
    if isinstance(rate, Fraction):
        exact = rate
    elif isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
    else:
        exact = Fraction(repr(rate)) if isinstance(rate, float) else Fraction(rate)
    if exact <= 0:
        raise ValueError(f"rate must be > 0, got {rate!r}")
    return exact


class LimitReq:
    """``rate`` requests a second with ``burst`` extra at once, nginx's way; time from
    ``clock`` (the event loop's when None)."""

    __slots__ = ("_excess", "_last_ns", "burst", "clock", "rate", "refused")

    def __init__(self, rate: float | Fraction, burst: int = 0, clock: Clock | None = None) -> None:
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
            raise ValueError(f"burst must be a whole number >= 0, got {burst!r}")
        self.rate = exact_rate(rate)
        """Requests per second, exact."""
        self.burst = burst
        self.clock: Clock = clock if clock is not None else AnyioClock()
        self._excess = Fraction(0)
        self._last_ns: int | None = None  # None: the key was never seen (a fresh node)
        self.refused = 0
        """Requests refused since the last reset."""

    @property
    def excess(self) -> Fraction:
        """nginx's ``excess`` as of the last admitted request."""
        return self._excess

    def reset(self) -> None:
        """Forget the key, as if it had never been seen (nginx would after a long idle)."""
        self._excess = Fraction(0)
        self._last_ns = None
        self.refused = 0

    def admit_at(self, now_ns: int) -> bool:
        """Whether a request arriving at ``now_ns`` (nanoseconds on the limiter's clock) is
        admitted; charges it if so, changes nothing if not."""
        if self._last_ns is None:
            self._last_ns = now_ns
            self._excess = Fraction(0)
            return True
        elapsed_ns = max(now_ns - self._last_ns, 0)  # nginx treats time going back as none
        excess = max(self._excess - self.rate * Fraction(elapsed_ns, _NS_PER_S) + 1, Fraction(0))
        if excess > self.burst:
            self.refused += 1
            return False
        self._excess = excess
        self._last_ns = now_ns
        return True

    def check(self, job: MockJob) -> ErrorReply | None:
        """The admission check: admit the request now, or answer nginx's 429."""
        now_ns = round(self.clock.now() * _NS_PER_S)
        return None if self.admit_at(now_ns) else _REFUSAL
