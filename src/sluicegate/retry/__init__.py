"""Retry: sending a failed attempt again when it may succeed, and waiting well before it.

- :mod:`~sluicegate.retry.policy`: :class:`RetryPolicy` and :func:`set_testing`;
- :mod:`~sluicegate.retry.backoff`: exponential backoff with full jitter;
- :mod:`~sluicegate.retry.budget`: the retry budget that caps retries in an outage;
- :mod:`~sluicegate.retry.retry_after`: reading ``retry-after-ms`` / ``Retry-After``;
- :mod:`~sluicegate.retry.stage`: the retry stage (phase RETRY), streams included.
"""

from sluicegate.retry.backoff import Backoff
from sluicegate.retry.budget import RetryBudget
from sluicegate.retry.policy import RetryPolicy, is_testing, set_testing

__all__ = ["Backoff", "RetryBudget", "RetryPolicy", "is_testing", "set_testing"]
