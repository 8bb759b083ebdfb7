"""Bulk work: ``client.map`` (:mod:`sluicegate.bulk.map`) and what ``sluicegate run`` is
made of, one concept a module: reading input lines (``input``), the output file and its
resume (``output``), the id sets that resume and duplicate checks use (``idset``),
run statistics and latency percentiles (``stats``, ``histogram``), the progress display
(``progress``), the summary (``summary``) and the run itself (``runner``).

Only ``map`` is imported by ``import sluicegate``; the rest loads when a run starts.
"""

from sluicegate.bulk.map import BulkMap, MapResult, RequestSource

__all__ = ["BulkMap", "MapResult", "RequestSource"]
