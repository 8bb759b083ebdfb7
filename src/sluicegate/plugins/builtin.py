"""The built-in plugin: registers sluicegate's own providers and middleware through the
same hooks a third-party plugin uses, so nothing built in is special-cased."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sluicegate import limits
from sluicegate.breaker import stage as breaker
from sluicegate.chain import MiddlewareSpec, Phase
from sluicegate.cost import stage as cost
from sluicegate.cost.prices import PriceList
from sluicegate.middleware import auth, deadline, fallback, idempotency, logging
from sluicegate.plugins.hookspecs import hookimpl
from sluicegate.providers import mock, openai
from sluicegate.providers.base import ProviderSpec
from sluicegate.retry import stage as retry
from sluicegate.structured import stage as structured

if TYPE_CHECKING:
    from sluicegate.batch.api import BatchApiSpec


@hookimpl
def sluicegate_providers() -> Sequence[ProviderSpec]:
    return [openai.SPEC, mock.SPEC]


@hookimpl
def sluicegate_middleware() -> Sequence[MiddlewareSpec]:
    return [
        MiddlewareSpec("logging", Phase.LOGGING, logging.build_request_logger),
        MiddlewareSpec("deadline", Phase.DEADLINE, deadline.build),
        MiddlewareSpec("structured", Phase.STRUCTURED, structured.build),
        MiddlewareSpec("cost", Phase.COST, cost.build),
        MiddlewareSpec("idempotency", Phase.IDEMPOTENCY, idempotency.build),
        MiddlewareSpec("fallback", Phase.FALLBACK, fallback.build),
        MiddlewareSpec("retry", Phase.RETRY, retry.build),
        MiddlewareSpec("breaker", Phase.BREAKER, breaker.build),
        MiddlewareSpec("rate_limit", Phase.RATE_LIMIT, limits.build),
        MiddlewareSpec("attempt_logging", Phase.ATTEMPT, logging.build_attempt_logger),
        MiddlewareSpec("auth", Phase.AUTH, auth.build),
    ]


@hookimpl
def sluicegate_price_lists() -> Sequence[PriceList]:
    from sluicegate.cost.tables import BUILTIN_PRICE_LISTS  # when a client is built

    return BUILTIN_PRICE_LISTS


@hookimpl
def sluicegate_batch_apis() -> Sequence[BatchApiSpec]:
    # the specs only: the API itself loads when a batch is first used
    from sluicegate.batch import openai_spec

    return [openai_spec.SPEC, openai_spec.MOCK_SPEC]
