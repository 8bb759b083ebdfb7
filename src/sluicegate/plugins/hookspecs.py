"""The plugin hooks: how providers, middleware, prices and observers join a client.

Built-in parts register through these same hooks (see :mod:`sluicegate.plugins.builtin`). Hooks
are called while a client is being built, never per request: pluggy's dispatch costs
microseconds a call, which a bulk run would pay millions of times. The two observer hooks
are the exception in kind but not in cost: their implementations are collected once and
then called directly, in pluggy's order, only when a plugin implements them; the client and
its Dispatcher call them (see :mod:`sluicegate.observers`), so no disabled stage silences
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from sluicegate.batch.api import BatchApiSpec
    from sluicegate.chain import MiddlewareSpec
    from sluicegate.cost.prices import ModelPrice, PriceList
    from sluicegate.observers import AttemptFailed, RequestFinished
    from sluicegate.providers.base import ProviderSpec

PROJECT = "sluicegate"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def sluicegate_providers() -> Sequence[ProviderSpec]:
    """Provider kinds this plugin adds (codec factory, default base URL, key variable)."""
    raise NotImplementedError


@hookspec
def sluicegate_middleware() -> Sequence[MiddlewareSpec]:
    """Middleware stages this plugin adds, each with a phase that places it in the chain.
    A spec named like an earlier one replaces it."""
    raise NotImplementedError


@hookspec
def sluicegate_price_lists() -> Sequence[PriceList]:
    """Dated price lists this plugin bundles, one per provider, each with its sources
    (``sluicegate prices`` shows them). Their prices join the table before the plugin's
    ``sluicegate_prices``."""
    raise NotImplementedError


@hookspec
def sluicegate_prices() -> Sequence[ModelPrice]:
    """Prices per model (USD per million tokens) this plugin knows, outside any list."""
    raise NotImplementedError


@hookspec
def sluicegate_batch_apis() -> Sequence[BatchApiSpec]:
    """Provider batch APIs this plugin adds, each for a provider kind (see
    :mod:`sluicegate.batch.api`). A later spec for the same kind replaces an earlier one."""
    raise NotImplementedError


@hookspec
def sluicegate_request_finished(event: RequestFinished) -> None:
    """Called once after every logical request, however many attempts it took: with its
    response, its error, or (a stream the caller closed before its end) neither."""


@hookspec
def sluicegate_attempt_failed(event: AttemptFailed) -> None:
    """Called after every attempt that went to the provider and failed, retried or not."""
