"""A set of ids in about 8.5 bytes an id: what a bulk run remembers about every line.

A run must know every id it has seen in the current pass over its input (a repeated id is
a bad line) and every id already in the output (a resumed run skips them). A Python
``set`` of strings costs about 90 bytes an id, 9 MB per 100,000 lines and growing with the
file. This keeps a 64-bit digest of each id instead, and both facts about an id in the
same 8 bytes: its two low bits say whether the id is a member (done) and whether the
current pass has seen it (:class:`Sightings`). So a first run, where every line's id is
both seen and done, stores each id once.

The digests live in sorted ``array('Q')`` buckets, chosen by the digest's top bits and
doubled in number (each bucket split at its middle, by one bisect) whenever they average
more than ``_BUCKET_SIZE`` ids. An insert is a bisect and a ``memmove`` of a few KB.

What the process pays is the C heap those arrays live in, not their ``sys.getsizeof``, so
the buckets are sized to keep that heap dense. A bucket is padded to a multiple of
``_STEP`` (8) entries and grows, when full, into an exact-size copy 8 entries longer
(``array + array`` does not over-allocate); its count of real digests is kept beside it.
The allocations all come in a few sizes 64 bytes apart, so the block a grown bucket frees
is the size the next bucket to grow needs. Letting ``array.insert`` grow the arrays
instead (by ~6% of their size, at sizes no other bucket asks for) left holes: 11 bytes of
RSS an id for a million ids (``sys.getsizeof``: 8.35), where this takes 8.5. A doubling
splits one bucket at a time and drops it, so it never holds two copies of the digests
(the old doubling built all the new buckets beside the old ones: 2x for a moment).

The price is a chance of two distinct ids sharing a digest (62 bits after the two flag
bits): about n²/2⁶³, one in 9 million for a million ids, one in 90,000 for ten million.
Such a pair would make the second id look already seen (reported as a duplicate, or
skipped as done): a risk far below that of the disk failing under the same run.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left

__all__ = ["IdSet", "Sightings", "id_digest"]

_MEMBER = 1
"""Flag bit: the id is in the set (``add``, ``in``, ``len``)."""
_SEEN = 2
"""Flag bit: the current :class:`Sightings` has seen the id."""
_FLAGS = _MEMBER | _SEEN
_BUCKET_SIZE = 1024
"""Average ids per bucket before the buckets double: an insert moves at most ~8 KB."""
_STEP = 8
"""A full bucket grows by this many entries (64 bytes), into a copy of exactly that size."""
_PADDING = array("Q", bytes(8 * _STEP))
_NOTHING = array("Q")


def id_digest(value: str) -> int:
    """The 64-bit digest an id is kept as (BLAKE2b, so it does not depend on
    ``PYTHONHASHSEED`` and is the same in every process)."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


def _key(value: str) -> int:
    """The digest with its flag bits cleared: what an id is looked up by."""
    return id_digest(value) & ~_FLAGS


class IdSet:
    """A growing set of string ids; ``add`` says whether an id was new."""

    __slots__ = ("_buckets", "_counts", "_entries", "_generation", "_members", "_shift")

    def __init__(self) -> None:
        self._buckets: list[array[int]] = [_padded(array("Q"))]
        """Each bucket's digests, sorted, then padding up to a multiple of ``_STEP``."""
        self._counts = array("L", [0])
        """Digests in each bucket (the rest of it is padding)."""
        self._shift = 64
        """A digest's bucket is ``digest >> _shift``: one bucket while ``_shift`` is 64."""
        self._entries = 0
        """Digests stored: members and ids only seen."""
        self._members = 0
        self._generation = 0
        """Which :class:`Sightings` is current (the older ones refuse to be used)."""

    def __len__(self) -> int:
        return self._members

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        key = _key(value)
        number = key >> self._shift
        bucket, count = self._buckets[number], self._counts[number]
        index = bisect_left(bucket, key, 0, count)
        if index == count:
            return False
        stored = bucket[index]
        return stored | _FLAGS == key | _FLAGS and stored & _MEMBER != 0

    def add(self, value: str) -> bool:
        """Add ``value``; True if it was not in the set yet."""
        return self._mark(_key(value), _MEMBER)

    def sightings(self) -> Sightings:
        """A new, empty record of the ids one pass over an input has seen, kept in this
        set's own entries (so an id both seen and done costs one entry). Starting it
        forgets what the previous :class:`Sightings` saw, and that one may not be used
        again."""
        if self._generation:
            self._forget_sightings()
        self._generation += 1
        return Sightings(self, self._generation)

    def _mark(self, key: int, flag: int) -> bool:
        """Set ``flag`` on the id with ``key``, adding it if absent; False if it was set."""
        number = key >> self._shift
        bucket, count = self._buckets[number], self._counts[number]
        index = bisect_left(bucket, key, 0, count)
        if index < count:
            stored = bucket[index]
            if stored | _FLAGS == key | _FLAGS:  # this id's entry
                if stored & flag:
                    return False
                bucket[index] = stored | flag
                if flag == _MEMBER:
                    self._members += 1
                return True
        if count == len(bucket):  # full: a copy ``_STEP`` entries longer
            bucket = self._buckets[number] = bucket + _PADDING
        # drop one padding entry, then insert: the length (and allocation) stays the same
        bucket.pop()
        bucket.insert(index, key | flag)
        self._counts[number] = count + 1
        self._entries += 1
        if flag == _MEMBER:
            self._members += 1
        if self._entries > len(self._buckets) * _BUCKET_SIZE:
            self._double_buckets()
        return True

    def _double_buckets(self) -> None:
        """Split every bucket at its middle digest: the next bit of the digest decides.
        One bucket at a time, each dropped once split, so the set never holds two copies
        of its digests (only of one bucket's)."""
        shift = self._shift - 1
        old, counts = self._buckets, self._counts
        self._buckets = doubled = []
        self._counts = array("L")
        for number in range(len(old)):
            bucket, count = old[number], counts[number]
            old[number] = _NOTHING
            middle = bisect_left(bucket, (2 * number + 1) << shift, 0, count)
            doubled.append(_padded(bucket[:middle]))
            doubled.append(_padded(bucket[middle:count]))
            self._counts.append(middle)
            self._counts.append(count - middle)
            del bucket
        self._shift = shift

    def _forget_sightings(self) -> None:
        """Clear every seen mark, dropping the ids that were only seen (a bucket at a time)."""
        buckets, counts = self._buckets, self._counts
        for number, bucket in enumerate(buckets):
            kept = array("Q", [s & ~_SEEN for s in bucket[: counts[number]] if s & _MEMBER])
            counts[number] = len(kept)
            buckets[number] = _padded(kept)
        self._entries = self._members


def _padded(digests: array[int]) -> array[int]:
    """``digests`` followed by padding to the next multiple of ``_STEP`` entries (at least
    one), in an allocation of exactly that size (an array's ``+`` does not over-allocate)."""
    return digests + _PADDING[: _STEP - len(digests) % _STEP]


class Sightings:
    """The ids one pass over an input has seen so far (``add`` is False for a repeat),
    stored as marks in an :class:`IdSet`'s entries; from :meth:`IdSet.sightings`."""

    __slots__ = ("_generation", "_ids")

    def __init__(self, ids: IdSet, generation: int) -> None:
        self._ids = ids
        self._generation = generation

    def add(self, value: str) -> bool:
        """Note that ``value`` was seen; True if this pass had not seen it yet."""
        ids = self._ids
        if ids._generation != self._generation:
            raise RuntimeError("these sightings were replaced by a later pass's")
        return ids._mark(_key(value), _SEEN)
