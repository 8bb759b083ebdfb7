"""The rate-limit stage (phase RATE_LIMIT, inside retry: every attempt is admitted).

What it does, its settings and its parts are in :mod:`sluicegate.limits` (the middleware
itself is :class:`sluicegate.limits.stage.RateLimiter`). This module is only the entry
point the built-in plugin registers: the limiter's modules are imported when a client is
built, not at ``import sluicegate``, which every CLI start and every worker pays for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sluicegate.chain import ChainContext
    from sluicegate.limits.stage import RateLimiter

__all__ = ["build"]


def build(context: ChainContext) -> RateLimiter | None:
    """The stage from ``context.settings["rate_limit"]``: None means the defaults (AIMD
    per model, no fixed limits), False leaves the stage out, else a
    :class:`~sluicegate.limits.RateLimits`, a :class:`~sluicegate.limits.Limit` or a list
    of them."""
    from sluicegate.limits.stage import build_limiter

    return build_limiter(context)
