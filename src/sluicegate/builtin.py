"""The built-in plugin: registers sluicegate's own providers and middleware through the
same hooks a third-party plugin uses, so nothing built in is special-cased."""

from __future__ import annotations

from collections.abc import Sequence

from sluicegate.batch.api import BatchApiSpec
from sluicegate.chain import MiddlewareSpec, Phase
from sluicegate.hookspecs import hookimpl
from sluicegate.middleware import (
    auth,
    breaker,
    cost,
    deadline,
    fallback,
    idempotency,
    logging,
    ratelimit,
    retry,
)
from sluicegate.price_data import builtin_prices
from sluicegate.prices import ModelPrice
from sluicegate.providers import mock, openai
from sluicegate.providers.base import ProviderSpec


@hookimpl
def sluicegate_providers() -> Sequence[ProviderSpec]:
    return [openai.SPEC, mock.SPEC]


@hookimpl
def sluicegate_middleware() -> Sequence[MiddlewareSpec]:
    return [
        MiddlewareSpec("logging", Phase.LOGGING, logging.build_request_logger),
        MiddlewareSpec("deadline", Phase.DEADLINE, deadline.build),
        MiddlewareSpec("cost", Phase.COST, cost.build),
        MiddlewareSpec("idempotency", Phase.IDEMPOTENCY, idempotency.build),
        MiddlewareSpec("fallback", Phase.FALLBACK, fallback.build),
        MiddlewareSpec("retry", Phase.RETRY, retry.build),
        MiddlewareSpec("breaker", Phase.BREAKER, breaker.build),
        MiddlewareSpec("rate-limit", Phase.RATE_LIMIT, ratelimit.build),
        MiddlewareSpec("attempt-logging", Phase.ATTEMPT, logging.build_attempt_logger),
        MiddlewareSpec("auth", Phase.AUTH, auth.build),
    ]


@hookimpl
def sluicegate_prices() -> Sequence[ModelPrice]:
    return builtin_prices()


@hookimpl
def sluicegate_batch_apis() -> Sequence[BatchApiSpec]:
    # imported when a client is built, not by ``import sluicegate``
    from sluicegate.batch import openai as openai_batch

    return [openai_batch.SPEC, openai_batch.MOCK_SPEC]
