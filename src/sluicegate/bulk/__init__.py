"""Bulk work: ``client.map`` (:mod:`sluicegate.bulk.map`) and what ``sluicegate run`` is
made of, one concept a module: reading input lines (``input``), CSV rows and prompt
templates (``rows``), the output file and its resume (``output``), the id sets that
resume and duplicate checks use (``idset``), which models may be sent to now and which
are paused or given up (``availability``), lines held for a later try (``held``), run
statistics and latency percentiles (``stats``, ``histogram``), the progress display
(``progress``), the summary (``summary``) and the run itself (``runner``).

Nothing here is imported by ``import sluicegate`` or ``sluicegate.Client``: the names below
load when first used (``client.map``, a run).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sluicegate.bulk.availability import ModelAvailability, ModelUnavailableError
    from sluicegate.bulk.map import BulkMap, MapResult, RequestSource

DEFAULT_PATIENCE_S = 300.0
"""How long (seconds) a model that answers nothing is waited for before its requests are
given up as pending: here, not in ``availability``, so the client's signature has it
without loading the bulk machinery."""

_EXPORTS = {
    "BulkMap": "sluicegate.bulk.map",
    "MapResult": "sluicegate.bulk.map",
    "ModelAvailability": "sluicegate.bulk.availability",
    "ModelUnavailableError": "sluicegate.bulk.availability",
    "RequestSource": "sluicegate.bulk.map",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sluicegate.bulk' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_PATIENCE_S",
    "BulkMap",
    "MapResult",
    "ModelAvailability",
    "ModelUnavailableError",
    "RequestSource",
]
