"""IdSet answers like a set of strings, and its Sightings like a per-pass set beside it,
through bucket doublings, in about 8.1 bytes an id (8.5 of RSS)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sluicegate.bulk import idset
from sluicegate.bulk.idset import IdSet, id_digest

_values = st.text(alphabet="ab\x00é", max_size=4)


class IdSetAgainstPythonSets(RuleBasedStateMachine):
    """The members and the current pass's sightings, checked against two Python sets,
    with buckets of 2 ids so that almost every step doubles or searches split buckets."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = pytest.MonkeyPatch()
        self.patch.setattr(idset, "_BUCKET_SIZE", 2)
        self.ids = IdSet()
        self.members: set[str] = set()
        self.sightings = self.ids.sightings()
        self.seen: set[str] = set()

    @rule(value=_values)
    def add(self, value: str) -> None:
        assert self.ids.add(value) == (value not in self.members)
        self.members.add(value)

    @rule(value=_values)
    def see(self, value: str) -> None:
        assert self.sightings.add(value) == (value not in self.seen)
        self.seen.add(value)

    @rule()
    def next_pass(self) -> None:
        old = self.sightings
        self.sightings = self.ids.sightings()
        self.seen = set()
        with pytest.raises(RuntimeError, match="replaced by a later pass"):
            old.add("a")

    @precondition(lambda self: bool(self.members))
    @rule(data=st.data())
    def member_is_found(self, data: st.DataObject) -> None:
        value = data.draw(st.sampled_from(sorted(self.members)))
        assert value in self.ids

    @invariant()
    def agrees(self) -> None:
        assert len(self.ids) == len(self.members)
        stored = sum(self.ids._counts)
        assert stored == self.ids._entries == len(self.members | self.seen)
        for bucket, count in zip(self.ids._buckets, self.ids._counts, strict=True):
            assert len(bucket) % idset._STEP == 0 and count <= len(bucket)
            assert list(bucket[:count]) == sorted(bucket[:count])
        for value in ("", "a", "b", "ab", "\x00", "é", "aé"):
            assert (value in self.ids) == (value in self.members)
        assert 7 not in self.ids  # not a string: never a member

    def teardown(self) -> None:
        self.patch.undo()


TestIdSetAgainstPythonSets = IdSetAgainstPythonSets.TestCase
TestIdSetAgainstPythonSets.settings = settings(max_examples=200, stateful_step_count=60)


@given(st.lists(st.text(max_size=6), max_size=300))
def test_add_and_contains_match_a_python_set(values: list[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(idset, "_BUCKET_SIZE", 3)
        ids, reference = IdSet(), set()
        for value in values:
            assert ids.add(value) == (value not in reference)
            reference.add(value)
            assert value in ids
        assert len(ids) == len(reference)
        assert all(((v + "\x00") in ids) == ((v + "\x00") in reference) for v in reference)


def test_an_id_both_seen_and_done_is_stored_once_and_seen_only_ids_go_at_the_next_pass() -> None:
    ids = IdSet()
    sightings = ids.sightings()
    for i in range(3000):
        assert sightings.add(f"row-{i}")
        if i % 3:
            assert ids.add(f"row-{i}")
    assert ids._entries == 3000 and len(ids) == 2000
    assert not sightings.add("row-0") and "row-0" not in ids
    again = ids.sightings()
    assert sum(ids._counts) == ids._entries == 2000 == len(ids)
    assert again.add("row-0") and again.add("row-1") and not again.add("row-1")
    assert "row-1" in ids and "row-0" not in ids


def test_a_million_ids_stay_exact_in_under_8_5_bytes_each() -> None:
    ids = IdSet()
    sightings = ids.sightings()
    count = 1_000_000
    for i in range(count):
        value = f"row-{i:07d}"
        assert sightings.add(value) and ids.add(value)
    assert not ids.add("row-0999999") and not sightings.add("row-0000000")
    assert "row-0000123" in ids and "row-1000000" not in ids
    assert len(ids) == count
    stored = sum(sys.getsizeof(bucket) for bucket in ids._buckets) + sys.getsizeof(ids._buckets)
    assert stored / count < 8.5
    assert max(ids._counts) < 4 * idset._BUCKET_SIZE
    # every bucket's allocation is exactly its length (padding included): no array
    # over-allocation, so the heap holds blocks of a few sizes 64 bytes apart
    assert len({sys.getsizeof(bucket) - 8 * len(bucket) for bucket in ids._buckets}) == 1
    assert all(len(bucket) % idset._STEP == 0 for bucket in ids._buckets)


def test_digests_are_pinned_so_they_do_not_depend_on_the_process() -> None:
    # BLAKE2b, not hash(): the same value under any PYTHONHASHSEED
    assert id_digest("abc") == 0xD8BB14D833D59559
