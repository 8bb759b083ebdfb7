"""The callable class Ray Data runs in each actor of a pool: one long-lived client per
actor, every batch of rows sent through it, every row answered in columns.

Why a class and one client per actor: a client holds connection pools, rate-limit
buckets, circuits and its link to the shared store; built per batch, each batch would pay
for new connections and start its limits from nothing. Ray builds the class once per
actor and calls it with each batch (``Dataset.map_batches(ChatProcessor, compute=
ActorPoolStrategy(size=N), fn_constructor_kwargs={...})``, which
:func:`~sluicegate.ray_data.map_chat` writes for you).

Why a portal: Ray calls ``__call__`` from a plain thread, and the client is async. The
actor starts one anyio blocking portal (an event loop in a thread of its own, asyncio or
trio as ``backend`` says) and enters the client in it once; each batch is one
``portal.call``. The client is entered and left in the same task, as the Redis store's
connection requires.

Why ids: Ray re-runs a task whose actor died, so a row may be sent twice. Each row's
idempotency key is derived from the job's ``run_id``, the row's ``id`` and the request
itself (as ``sluicegate run`` derives its keys), so the second send carries the first's
key: with a shared store the answer recorded by the first is replayed (``attempts`` 0,
nothing charged again), and a provider that honours ``Idempotency-Key`` recognises it.

What is shared: with ``store="redis://..."`` every limit, circuit and budget of every
actor is one in Redis, so more actors never raise the rate; without a store each actor
keeps its own, which is why :func:`~sluicegate.ray_data.map_chat` refuses limits or a
budget without one. Before a batch is returned its background store calls (token
corrections, releases, budget settlements) are flushed, since Ray may end an actor
without closing it.
"""

from __future__ import annotations

import atexit
import math
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from sluicegate.bulk.availability import DEFAULT_PATIENCE_S, ModelAvailability
from sluicegate.bulk.input import (
    SIMPLE_FIELDS,
    BadLine,
    InputLine,
    LineRules,
    parse_line,
    parse_record,
)
from sluicegate.bulk.output import result_record
from sluicegate.bulk.runner import line_request, run_client
from sluicegate.client import Client
from sluicegate.errors import ConfigError
from sluicegate.middleware.deadline import DEFAULT_TOTAL_TIMEOUT
from sluicegate.ray_data.columns import RowResult, check_input_columns, with_results
from sluicegate.stores.redis.config import store_from_setting
from sluicegate.structured.schema import AnswerSchema
from sluicegate.types import Request

if TYPE_CHECKING:
    import pandas
    import pyarrow

__all__ = ["BACKENDS", "ChatProcessor", "ChatSettings"]

BACKENDS = ("asyncio", "trio")


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """What each actor's client is built with (the keyword arguments of
    :class:`ChatProcessor`); plain values, so Ray can ship them to the actors."""

    run_id: str
    """Names the job in the rows' idempotency keys: the same on every re-run of a task."""
    model: str | None = None
    """For rows that name none (``provider/model``)."""
    store: str | None = None
    """The shared store (``redis://...``); None: ``SLUICEGATE_STORE``, else per actor."""
    concurrency: int = 16
    """Requests in flight at most, per actor."""
    rpm: int | None = None
    tpm: int | None = None
    burst_s: float = 0.1
    budget: float | None = None
    """USD for the whole job, shared by every actor through the store."""
    budget_name: str | None = None
    """The budget's name in the store (default: from ``run_id``)."""
    patience: float | None = DEFAULT_PATIENCE_S
    total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT
    backend: str = "asyncio"
    """The actor's event loop: ``asyncio`` or ``trio``."""
    replay_ttl_s: float = 24 * 3600.0
    """How long a row's answer is replayed from the shared store to a re-run (with a
    store; without one there is nothing shared to replay from)."""
    input_column: str | None = None
    """A column holding each row's whole JSON line, instead of the fields as columns."""
    number_column: str | None = None
    """A column holding each row's line number, for the results and the error messages."""
    schema: Mapping[str, Any] | None = None
    """A JSON Schema (or an OpenAI ``response_format`` dict) every answer must fit, as
    ``sluicegate run --schema``: ``result_json`` then holds ``parsed``."""
    reasks: int | None = None
    """Re-asks after an answer that does not fit (None: the client's, 2)."""

    def __post_init__(self) -> None:
        if not isinstance(self.run_id, str) or not self.run_id:
            raise ConfigError("run_id must be a non-empty string: it names the job's rows")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if isinstance(self.concurrency, bool) or not (
            isinstance(self.concurrency, int) and self.concurrency >= 1
        ):
            raise ConfigError(f"concurrency must be an integer >= 1, got {self.concurrency!r}")
        if self.model is not None and "/" not in self.model.strip("/"):
            raise ConfigError(f"model {self.model!r}: name it provider/model, e.g. mock/fast")

    def as_kwargs(self) -> dict[str, Any]:
        """For ``map_batches(..., fn_constructor_kwargs=...)``."""
        return asdict(self)


class ChatProcessor:
    """``Dataset.map_batches`` callable class: each row through an LLM, answered in
    columns (:mod:`sluicegate.ray_data.columns`). Takes :class:`ChatSettings`' fields
    as keyword arguments. Also usable without Ray, on a ``pyarrow.Table``, a pandas
    DataFrame or a dict of columns (``with ChatProcessor(run_id="t") as p: p(table)``).
    """

    def __init__(self, **settings: Any) -> None:
        self.settings = ChatSettings(**settings)
        self._stack = ExitStack()
        self._closed = False
        try:
            self._portal: BlockingPortal = self._stack.enter_context(
                start_blocking_portal(self.settings.backend)
            )
            self._client: Client = self._stack.enter_context(
                self._portal.wrap_async_context_manager(self._build_client())
            )
        except BaseException:
            self._stack.close()
            raise
        self._rules = LineRules.of_client(self.settings.model, self._client)
        schema = self.settings.schema
        self._schema = None if schema is None else AnswerSchema(schema)
        self._availability: ModelAvailability | None = None
        """The models' pauses and patience, kept from one batch to the next."""
        atexit.register(self.close)

    def _build_client(self) -> Client:
        s = self.settings
        shared = store_from_setting(s.store) is not None
        return run_client(
            concurrency=s.concurrency,
            rpm=s.rpm,
            tpm=s.tpm,
            burst_s=s.burst_s,
            budget=s.budget,
            budget_name=s.budget_name or f"ray {s.run_id}",
            total_timeout=s.total_timeout,
            store=s.store,
            # in memory, records would only fill the actor: a re-run goes to another one
            replay_ttl_s=s.replay_ttl_s if shared else 0.0,
        )

    def __enter__(self) -> ChatProcessor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client (sending what its store still has queued) and the portal."""
        if not self._closed:
            self._closed = True
            atexit.unregister(self.close)
            self._stack.close()

    def __call__(
        self, batch: pyarrow.Table | pandas.DataFrame | Mapping[str, Any]
    ) -> pyarrow.Table:
        table = _as_table(batch)
        check_input_columns(table.column_names)
        results = self._portal.call(self._answer, table.to_pylist())
        return with_results(table, results)

    async def _answer(self, rows: list[dict[str, Any]]) -> list[RowResult]:
        """Every row's result record, in the rows' order; the good rows sent at once
        through one map (at most ``concurrency`` in flight)."""
        s = self.settings
        results: list[RowResult | None] = [None] * len(rows)
        where: dict[str, tuple[int, int | None]] = {}
        requests: list[Request] = []
        for index, row in enumerate(rows):
            number = _line_number(row, s.number_column)
            item = self._parse(row, number if number is not None else index + 1)
            if isinstance(item, InputLine) and item.id in where:
                item = BadLine(item.line, f"duplicate id {item.id!r} in one batch", item.id)
            request = (
                line_request(self._client, item, s.run_id, self._schema, s.reasks)
                if isinstance(item, InputLine)
                else item
            )
            if isinstance(request, BadLine):
                model = row.get("model") if isinstance(row.get("model"), str) else s.model
                results[index] = (_bad_record(request, number, model), False)
                continue
            where[request.metadata.caller_id or ""] = (index, number)
            requests.append(request)
        if requests:
            bulk = (
                self._client.map(requests, concurrency=s.concurrency, patience=s.patience)
                if self._availability is None
                else self._client.map(
                    requests, concurrency=s.concurrency, availability=self._availability
                )
            )
            self._availability = bulk.availability
            async with bulk as answered:
                async for result in answered:
                    index, number = where[result.caller_id or ""]
                    results[index] = (result_record(result, number), result.pending)
        await self._client.flush_store()
        assert all(r is not None for r in results), "every row is answered"
        return [r for r in results if r is not None]

    def _parse(self, row: Mapping[str, Any], number: int) -> InputLine | BadLine:
        column = self.settings.input_column
        if column is not None:
            raw = row.get(column)
            if not isinstance(raw, str | bytes):
                kind = "null" if raw is None else type(raw).__name__
                return BadLine(number, f"column {column!r} must hold a JSON line, got {kind}")
            return parse_line(raw, number, self._rules)
        value = {name: row[name] for name in SIMPLE_FIELDS if row.get(name) is not None}
        return parse_record(value, number, self._rules)


def _as_table(batch: Any) -> pyarrow.Table:
    import pyarrow as pa

    if isinstance(batch, pa.Table):
        return batch
    if isinstance(batch, Mapping):
        return pa.table({name: list(values) for name, values in batch.items()})
    if hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # a pandas DataFrame
        return pa.Table.from_pandas(batch, preserve_index=False)
    raise ConfigError(
        f"a batch must be a pyarrow Table, a pandas DataFrame or a dict of columns, got "
        f"{type(batch).__name__} (map_batches(..., batch_format='pyarrow'))"
    )


def _line_number(row: Mapping[str, Any], column: str | None) -> int | None:
    if column is None:
        return None
    value = row.get(column)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _bad_record(bad: BadLine, line: int | None, model: Any) -> dict[str, Any]:
    """A row that could not be sent, as a result record: a BadInputError naming the
    field at fault (nothing was sent, nothing is pending)."""
    where = f" (field {bad.field})" if bad.field else ""
    return {
        "id": bad.id,
        "line": line,
        "model": model if isinstance(model, str) else None,
        "error": {
            "type": "BadInputError",
            "message": bad.reason + where,
            "status": None,
            "retryable": False,
        },
        "usage": None,
        "cost": None,
        "latency": 0.0,
        "attempts": 0,
    }
