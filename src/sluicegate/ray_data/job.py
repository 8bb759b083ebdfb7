"""``map_chat``: a Ray Dataset in, the same rows with their answers out, the way Ray Data
users already run a model over a dataset (``map_batches`` on an actor pool)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sluicegate.bulk.availability import DEFAULT_PATIENCE_S
from sluicegate.errors import ConfigError
from sluicegate.middleware.deadline import DEFAULT_TOTAL_TIMEOUT
from sluicegate.ray_data.columns import check_input_columns
from sluicegate.ray_data.processor import ChatProcessor, ChatSettings
from sluicegate.stores.redis.config import store_from_setting

if TYPE_CHECKING:
    import ray.data

__all__ = ["check_shared_limits", "map_chat"]


def map_chat(
    dataset: ray.data.Dataset,
    *,
    model: str | None = None,
    store: str | None = None,
    run_id: str | None = None,
    actors: int = 2,
    batch_size: int = 64,
    concurrency: int = 16,
    rpm: int | None = None,
    tpm: int | None = None,
    burst_s: float = 0.1,
    budget: float | None = None,
    patience: float | None = DEFAULT_PATIENCE_S,
    total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
    backend: str = "asyncio",
    input_column: str | None = None,
    number_column: str | None = None,
    budget_name: str | None = None,
    schema: Mapping[str, Any] | None = None,
    reasks: int | None = None,
    **ray_remote_args: Any,
) -> ray.data.Dataset:
    """Every row of ``dataset`` through a model, in a pool of ``actors`` actors that each
    keep one client with ``concurrency`` requests in flight; the rows come back with the
    result columns of :mod:`sluicegate.ray_data.columns` (errors included: a bad row or a
    failed request never fails the block).

    ``run_id`` names the job in the rows' idempotency keys (default: a fresh one, so a
    re-run task's rows are recognised, and another job's are not). ``rpm``/``tpm``/
    ``budget`` hold for the whole job, every actor together, through ``store`` (a Redis
    URL; default ``SLUICEGATE_STORE``): with more than one actor they need one, since
    actors that kept their own limits would send the limit once per actor.
    ``schema`` (a JSON Schema, or an OpenAI ``response_format`` dict) asks every row for
    a structured answer, re-asked up to ``reasks`` times; ``result_json`` holds
    ``parsed`` (see docs/structured.md). ``ray_remote_args`` go to ``map_batches``
    (``num_cpus``, ``runtime_env``...). Lazy, as Ray datasets are: nothing is sent until
    the result is consumed.
    """
    try:
        import ray.data
    except ImportError:
        raise ConfigError("sluicegate.ray_data needs Ray: pip install 'sluicegate[ray]'") from None
    check_shared_limits(actors, store, rpm=rpm, tpm=tpm, budget=budget)
    settings = ChatSettings(
        run_id=run_id or f"ray-{secrets.token_hex(8)}",
        model=model,
        store=store,
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        burst_s=burst_s,
        budget=budget,
        budget_name=budget_name,
        patience=patience,
        total_timeout=total_timeout,
        backend=backend,
        input_column=input_column,
        number_column=number_column,
        schema=None if schema is None else dict(schema),
        reasks=reasks,
    )
    columns = dataset.schema(fetch_if_missing=False)
    if columns is not None:
        check_input_columns(list(columns.names))
    return dataset.map_batches(
        ChatProcessor,
        fn_constructor_kwargs=settings.as_kwargs(),
        compute=ray.data.ActorPoolStrategy(size=actors),
        batch_size=batch_size,
        batch_format="pyarrow",
        **ray_remote_args,
    )


def check_shared_limits(
    actors: int,
    store: str | None,
    *,
    rpm: int | None = None,
    tpm: int | None = None,
    budget: float | None = None,
) -> None:
    """Refuse a limit or a budget that more than one actor would each keep for itself:
    without a shared store, N actors would allow N times it."""
    if isinstance(actors, bool) or not (isinstance(actors, int) and actors >= 1):
        raise ConfigError(f"actors must be an integer >= 1, got {actors!r}")
    limits = (("rpm", rpm), ("tpm", tpm), ("budget", budget))
    given = [name for name, value in limits if value is not None]
    if given and actors > 1 and store_from_setting(store) is None:
        raise ConfigError(
            f"{given[0]} with {actors} actors needs a shared store (--store/store= "
            "redis://..., or SLUICEGATE_STORE): each actor would keep its own, and "
            f"together they would allow {actors} times it"
        )
