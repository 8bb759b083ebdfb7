"""SSEDecoder(max_event_bytes=...): an unterminated line or an unfinished event's data past
the bound raises EventTooLarge, whatever the chunking, and the decoder never holds more
than the bound plus one chunk; streams whose lines and events stay under it decode
exactly as without a bound."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.sse import EventTooLarge, SSEDecoder

LIMIT = 256


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return [p for p in pieces if p]


def _held(decoder: SSEDecoder) -> int:
    return len(decoder._pending) + sum(len(d) + 1 for d in decoder._data)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(min_size=1, max_size=64).filter(lambda b: b"\n" not in b and b"\r" not in b),
    repeat=st.integers(min_value=5, max_value=40),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=30),
)
def test_a_line_without_an_end_is_refused_once_past_the_bound(
    body: bytes, repeat: int, cuts: list[int]
) -> None:
    data = b"data: " + body * repeat
    decoder = SSEDecoder(LIMIT)
    chunks = _chunks(data, cuts)
    raised = False
    for chunk in chunks:
        try:
            decoder.feed(chunk)
        except EventTooLarge as exc:
            assert exc.limit == LIMIT
            raised = True
            break
        assert _held(decoder) <= LIMIT
    assert raised == (len(data) > LIMIT)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="abc", min_size=0, max_size=40), min_size=1, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=30),
)
def test_an_event_is_refused_when_its_data_passes_the_bound(
    lines: list[str], cuts: list[int]
) -> None:
    data = "".join(f"data: {line}\n" for line in lines).encode()
    size = len("\n".join(lines))
    decoder = SSEDecoder(LIMIT)
    try:
        for chunk in _chunks(data, cuts):
            decoder.feed(chunk)
            assert _held(decoder) <= LIMIT + 1
        events = decoder.feed(b"\n")
    except EventTooLarge:
        assert size > LIMIT  # the data as the event would carry it, line ends included
        return
    assert size <= LIMIT
    assert [e.data for e in events] == ["\n".join(lines)]


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(st.text(min_size=0, max_size=50), min_size=1, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=40),
)
def test_a_stream_of_small_events_decodes_as_without_a_bound(
    events: list[str], cuts: list[int]
) -> None:
    data = "".join(f"data: {e}\n\n" for e in events).encode()
    bounded, unbounded = SSEDecoder(LIMIT), SSEDecoder()
    got, expected = [], []
    for chunk in _chunks(data, cuts):
        got += bounded.feed(chunk)
        expected += unbounded.feed(chunk)
    assert got == expected


def test_the_decoder_is_closed_after_it_refused() -> None:
    decoder = SSEDecoder(10)
    with pytest.raises(EventTooLarge, match="larger than 10 bytes"):
        decoder.feed(b"data: 0123456789")
    assert decoder.closed
    with pytest.raises(ValueError, match="closed"):
        decoder.feed(b"\n")
