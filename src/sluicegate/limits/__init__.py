"""Rate limiting: the parts of the rate-limit stage, one concept per module.

- :mod:`~sluicegate.limits.gcra`: the pure, integer-time bucket (GCRA);
- :mod:`~sluicegate.limits.dimensions`: what a request must fit (requests, tokens,
  input/output tokens, concurrency, a Retry-After hold);
- :mod:`~sluicegate.limits.gate`: admission into all of them at once, first come first
  served, on the injected clock;
- :mod:`~sluicegate.estimate`: the token charge before sending;
- :mod:`~sluicegate.limits.headers`: reading ``x-ratelimit-*`` / ``anthropic-ratelimit-*``;
- :mod:`~sluicegate.limits.adaptive`: AIMD when no limit is configured;
- :mod:`~sluicegate.limits.config`: :class:`Limit`, :class:`Adaptive`, :class:`RateLimits`;
- :mod:`~sluicegate.limits.plan`: rules resolved to shared buckets, per model;
- :mod:`~sluicegate.limits.stage`: the rate-limit stage (phase RATE_LIMIT, inside retry:
  every attempt is admitted), registered through :func:`build`, which imports it when a
  client is built rather than at ``import sluicegate``.

The token charge before sending is :mod:`sluicegate.estimate`, shared with the cost stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluicegate.limits.config import Adaptive, Limit, RateLimits
from sluicegate.limits.errors import RequestTooLargeError
from sluicegate.limits.gcra import Gcra

if TYPE_CHECKING:
    from sluicegate.chain import ChainContext
    from sluicegate.limits.stage import RateLimiter

__all__ = ["Adaptive", "Gcra", "Limit", "RateLimits", "RequestTooLargeError", "build"]


def build(context: ChainContext) -> RateLimiter | None:
    """The stage from ``context.settings["rate_limit"]``: None means the defaults (AIMD
    per model, no fixed limits), False leaves the stage out, else a :class:`RateLimits`
    (or a mapping of its fields), a :class:`Limit` or a list of them."""
    from sluicegate.limits.stage import build_limiter

    return build_limiter(context)
