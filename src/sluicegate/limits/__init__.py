"""Rate limiting: the parts of the rate-limit stage, one concept per module.

- :mod:`~sluicegate.limits.gcra`: the pure, integer-time bucket (GCRA);
- :mod:`~sluicegate.limits.dimensions`: what a request must fit (requests, tokens,
  input/output tokens, concurrency, a Retry-After hold);
- :mod:`~sluicegate.limits.gate`: admission into all of them at once, first come first
  served, on the injected clock;
- :mod:`~sluicegate.limits.estimate`: the token charge before sending;
- :mod:`~sluicegate.limits.headers`: reading ``x-ratelimit-*`` / ``anthropic-ratelimit-*``;
- :mod:`~sluicegate.limits.adaptive`: AIMD when no limit is configured;
- :mod:`~sluicegate.limits.config`: :class:`Limit`, :class:`Adaptive`, :class:`RateLimits`;
- :mod:`~sluicegate.limits.plan`: rules resolved to shared buckets, per model;
- :mod:`~sluicegate.limits.stage`: the middleware (registered through
  :func:`sluicegate.middleware.ratelimit.build`, which imports it lazily).
"""

from sluicegate.limits.config import Adaptive, Limit, RateLimits
from sluicegate.limits.errors import RequestTooLargeError
from sluicegate.limits.estimate import TokenEstimate
from sluicegate.limits.gcra import Gcra

__all__ = ["Adaptive", "Gcra", "Limit", "RateLimits", "RequestTooLargeError", "TokenEstimate"]
