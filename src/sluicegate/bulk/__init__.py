"""Bulk work: ``client.map`` (:mod:`sluicegate.bulk.map`) and what ``sluicegate run`` is
made of, one concept a module: reading input lines (``input``), CSV rows and prompt
templates (``rows``), the output file and its resume (``output``), the id sets that
resume and duplicate checks use (``idset``), which models may be sent to now and which
are paused or given up (``availability``), lines held for a later try (``held``), run
statistics and latency percentiles (``stats``, ``histogram``), the progress display
(``progress``), the summary (``summary``) and the run itself (``runner``).

Only ``map`` (and the ``availability`` and ``held`` it uses) is imported by
``import sluicegate``; the rest loads when a run starts.
"""

from sluicegate.bulk.availability import (
    DEFAULT_PATIENCE_S,
    ModelAvailability,
    ModelUnavailableError,
)
from sluicegate.bulk.map import BulkMap, MapResult, RequestSource

__all__ = [
    "DEFAULT_PATIENCE_S",
    "BulkMap",
    "MapResult",
    "ModelAvailability",
    "ModelUnavailableError",
    "RequestSource",
]
