"""The columns a :class:`~sluicegate.ray_data.ChatProcessor` reads from each row and the
columns it adds, so that every row comes back with its answer or its error, never a
failed block.

Read: the fields of ``sluicegate run``'s simple line form, as columns (``id``, and
``prompt`` or ``messages``; optional ``model``, ``system``, ``max_tokens``,
``temperature``, ``top_p``, ``stop``, ``tags``; a null is the same as a missing field).
Every other column is the caller's own: passed through untouched. Or, with
``input_column``, one column holding each row's JSON line in either form
(``sluicegate run --engine ray`` sends its input lines so).

Added (:data:`RESULT_COLUMNS`): the answer's text, finish reason, tokens (input, output,
and the parts of them that were cached and that were the model's thinking), cost in USD
(null where the model has no price: unknown, never a made-up 0), latency, attempts; the
error's type, message, HTTP status and whether it was transient; ``pending`` (a transient
failure that never succeeded: the row is not answered, and a later job may answer it);
``parsed_json``, a structured answer (``schema=``) as JSON text, null without a schema;
and ``result_json``, the line ``sluicegate run`` writes for the row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sluicegate.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow

__all__ = ["RESULT_COLUMNS", "RowResult", "check_input_columns", "with_results"]

RESULT_COLUMNS: dict[str, str] = {
    "response_text": "string",
    "finish_reason": "string",
    "input_tokens": "int64",
    "output_tokens": "int64",
    "cached_tokens": "int64",
    "reasoning_tokens": "int64",
    "cost_usd": "float64",
    "latency_s": "float64",
    "attempts": "int64",
    "error_type": "string",
    "error_message": "string",
    "error_status": "int64",
    "error_retryable": "bool_",
    "pending": "bool_",
    "parsed_json": "string",
    "result_json": "string",
}
"""Each added column and its Arrow type, by its name in pyarrow (every one nullable)."""

RowResult = tuple[Mapping[str, Any], bool]
"""One row's outcome: its result record (``sluicegate run``'s output line) and whether it
is pending."""


def check_input_columns(names: Sequence[str]) -> None:
    """Refuse an input whose own columns would be overwritten by the results."""
    taken = sorted(set(names).intersection(RESULT_COLUMNS))
    if taken:
        raise ConfigError(
            f"input column {taken[0]!r} has the name of a result column; rename it "
            f"(result columns: {', '.join(RESULT_COLUMNS)})"
        )


def _values(record: Mapping[str, Any], pending: bool) -> dict[str, Any]:
    response = record.get("response") or {}
    usage = record.get("usage") or {}
    error = record.get("error") or {}
    return {
        "response_text": response.get("text"),
        "finish_reason": response.get("finish_reason"),
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "cached_tokens": usage.get("cached_tokens"),
        "reasoning_tokens": usage.get("reasoning_tokens"),
        "cost_usd": record.get("cost"),
        "latency_s": record.get("latency"),
        "attempts": record.get("attempts"),
        "error_type": error.get("type"),
        "error_message": error.get("message"),
        "error_status": error.get("status"),
        "error_retryable": error.get("retryable") if error else None,
        "pending": pending,
        "parsed_json": (
            json.dumps(record["parsed"], ensure_ascii=False, separators=(",", ":"))
            if "parsed" in record
            else None
        ),
        "result_json": json.dumps(record, ensure_ascii=False, separators=(",", ":")),
    }


def with_results(table: pyarrow.Table, results: Sequence[RowResult]) -> pyarrow.Table:
    """``table`` with the result columns appended, row ``i`` taking ``results[i]``."""
    import pyarrow as pa

    rows = [_values(record, pending) for record, pending in results]
    for name, type_name in RESULT_COLUMNS.items():
        column = pa.array([row[name] for row in rows], type=getattr(pa, type_name)())
        table = table.append_column(name, column)
    return table
