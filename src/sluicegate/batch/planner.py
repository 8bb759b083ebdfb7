"""Splitting a stream of requests into jobs that fit the provider's limits.

Items are encoded as they arrive (by the provider's batch API, so the size counted is the
size sent) and appended to the open chunk of their provider and group (OpenAI: one model
a job). A chunk that would pass ``max_requests`` or ``max_bytes`` with the next item is
handed back to be submitted, and the item starts a new chunk. So memory holds one open
chunk per provider and group, never the input.

Each item carries two integers for the caller's bookkeeping: ``ref`` (``sluicegate run``:
the input line number; ``client.batches.submit``: the request's position) and ``offset``
(the line's byte offset in the input, so a job's lines can be read back later).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from sluicegate.batch.api import BatchApi
from sluicegate.errors import BadInputError
from sluicegate.types import Request

__all__ = ["Chunk", "ChunkPlanner", "ItemTooLargeError", "runs_of"]


class ItemTooLargeError(BadInputError):
    """One request is larger, encoded, than a whole job may be."""


@dataclass(slots=True)
class Chunk:
    """Items bound for one job: their encoded lines and the caller's refs and offsets."""

    provider: str
    group: str
    body: bytearray = field(default_factory=bytearray)
    refs: array[int] = field(default_factory=lambda: array("Q"))
    offsets: array[int] = field(default_factory=lambda: array("Q"))
    custom_ids: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.refs)

    def runs(self) -> list[list[int]]:
        """The refs as ``[first, last, offset of first]`` runs of consecutive refs."""
        return runs_of(self.refs, self.offsets)


def runs_of(refs: array[int], offsets: array[int]) -> list[list[int]]:
    """Consecutive refs folded into ``[first, last, offset]`` runs (refs ascending)."""
    runs: list[list[int]] = []
    for ref, offset in zip(refs, offsets, strict=True):
        if runs and runs[-1][1] + 1 == ref:
            runs[-1][1] = ref
        else:
            runs.append([ref, ref, offset])
    return runs


class ChunkPlanner:
    """Open chunks per (provider, group) for the batch APIs it is given."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], Chunk] = {}

    def add(self, api: BatchApi, request: Request, ref: int, offset: int = 0) -> Chunk | None:
        """Add one request; return a chunk that is now full and must be submitted (the
        request went into a new one), or None. Raises :class:`ItemTooLargeError` for a
        request that alone exceeds the job size limit, and ``BadInputError`` for one
        without a ``caller_id`` (a batch item needs an id to find its result)."""
        caller_id = request.metadata.caller_id
        if not caller_id:
            raise BadInputError(
                "a batch request needs an id: build it with client.request(..., caller_id=...)",
                field="caller_id",
            )
        custom_id = api.custom_id(caller_id)
        line = api.encode_item(custom_id, request)
        size = len(line) + 1
        limits = api.limits
        if size > limits.max_bytes:
            raise ItemTooLargeError(
                f"request {caller_id!r} is {size:,} bytes encoded, more than a whole "
                f"{api.provider} batch job may hold ({limits.max_bytes:,} bytes)",
                field="caller_id",
            )
        key = (api.provider, api.group_key(request))
        chunk = self._open.get(key)
        full: Chunk | None = None
        if chunk is not None and (
            chunk.count + 1 > limits.max_requests or len(chunk.body) + size > limits.max_bytes
        ):
            full = self._open.pop(key)
            chunk = None
        if chunk is None:
            chunk = self._open[key] = Chunk(api.provider, key[1])
        chunk.body += line
        chunk.body += b"\n"
        chunk.refs.append(ref)
        chunk.offsets.append(offset)
        chunk.custom_ids.append(custom_id)
        return full

    def flush(self) -> Iterator[Chunk]:
        """Every open chunk, emptied out (at the end of the input)."""
        while self._open:
            key = next(iter(self._open))
            yield self._open.pop(key)

    @property
    def pending(self) -> int:
        """Items in open chunks, not yet submitted."""
        return sum(chunk.count for chunk in self._open.values())
