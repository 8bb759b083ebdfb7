"""A set of ids in 8 bytes an id: what a bulk run remembers about every line.

A run must know every id it has seen (a repeated id in the input is a bad line) and every
id already in the output (a resumed run skips them). A Python ``set`` of strings costs
about 90 bytes an id, 9 MB per 100,000 lines and growing with the file; this keeps a
64-bit digest of each id in a sorted ``array('Q')`` instead, plus a small set of recent
digests that is merged into the array when it reaches an eighth of it (so the merges
cost a constant number of passes per id in total, and the set stays small).

The price is a chance of two distinct ids sharing a digest: about n²/2⁶⁵, one in 4·10⁹
for 100,000 ids, one in 40 million for a million. Such a pair would make the second id
look already seen (reported as a duplicate, or skipped as done): a risk far below that
of the disk failing under the same run.
"""

from __future__ import annotations

import hashlib
import heapq
from array import array
from bisect import bisect_left

__all__ = ["IdSet", "id_digest"]

_MIN_RECENT = 4096


def id_digest(value: str) -> int:
    """The 64-bit digest an id is kept as (BLAKE2b, so it does not depend on
    ``PYTHONHASHSEED`` and is the same in every process)."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


class IdSet:
    """A growing set of string ids; ``add`` says whether an id was new."""

    __slots__ = ("_recent", "_sorted")

    def __init__(self) -> None:
        self._sorted = array("Q")
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and self._has(id_digest(value))

    def add(self, value: str) -> bool:
        """Add ``value``; True if it was not in the set yet."""
        digest = id_digest(value)
        if self._has(digest):
            return False
        self._recent.add(digest)
        if len(self._recent) >= max(_MIN_RECENT, len(self._sorted) >> 3):
            self._merge()
        return True

    def _has(self, digest: int) -> bool:
        if digest in self._recent:
            return True
        keys = self._sorted
        index = bisect_left(keys, digest)
        return index < len(keys) and keys[index] == digest

    def _merge(self) -> None:
        self._sorted = array("Q", heapq.merge(self._sorted, sorted(self._recent)))
        self._recent = set()
