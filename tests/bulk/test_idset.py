"""IdSet answers like a set of strings, through its merges, in 8 bytes an id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.bulk import idset
from sluicegate.bulk.idset import IdSet, id_digest


@given(st.lists(st.text(max_size=6), max_size=300))
def test_add_and_contains_match_a_python_set(values: list[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(idset, "_MIN_RECENT", 3)  # merge often, to test the merged array
        ids, reference = IdSet(), set()
        for value in values:
            assert ids.add(value) == (value not in reference)
            reference.add(value)
            assert value in ids
        assert len(ids) == len(reference)
        assert all(v in ids for v in reference)
        assert all(((v + "\x00") in ids) == ((v + "\x00") in reference) for v in reference)


def test_many_ids_stay_exact_and_take_about_8_bytes_each() -> None:
    ids = IdSet()
    for i in range(50_000):
        assert ids.add(f"row-{i}")
    assert not ids.add("row-49999") and not ids.add("row-0")
    assert "row-123" in ids and "row-50000" not in ids
    assert len(ids) == 50_000
    assert ids._sorted.itemsize == 8 and len(ids._recent) < 50_000 // 4


def test_digests_are_pinned_so_they_do_not_depend_on_the_process() -> None:
    # BLAKE2b, not hash(): the same value under any PYTHONHASHSEED
    assert id_digest("abc") == 0xD8BB14D833D59559
