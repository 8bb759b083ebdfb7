"""Tests for sluicegate.sse: the incremental Server-Sent Events decoder.

Example tests pin down each rule of the WHATWG "Parsing an event stream" and
"Interpreting an event stream" algorithms; Hypothesis property tests check that
chunking never changes the result and that the decoder agrees with a literal,
character-by-character reference implementation of the spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluicegate.sse import EventTooLarge, SSEDecoder, SSEEvent

BOM = b"\xef\xbb\xbf"


def decode(*chunks: bytes) -> list[SSEEvent]:
    """Feed ``chunks`` to a fresh decoder, close it, and return all events."""
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def byte_chunks(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    chunks = []
    start = 0
    for point in points:
        chunks.append(data[start:point])  # may be empty: empty feeds must be harmless
        start = point
    chunks.append(data[start:])
    return chunks


def ev(
    data: str, event: str = "message", id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return SSEEvent(event=event, data=data, id=id, retry=retry)


# --------------------------------------------------------------------------- #
# The event type
# --------------------------------------------------------------------------- #


def test_event_defaults_immutable_and_slotted() -> None:
    event = SSEEvent()
    assert (event.event, event.data, event.id, event.retry) == ("message", "", None, None)
    with pytest.raises(AttributeError):
        event.data = "x"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
    assert SSEEvent._fields == ("event", "data", "id", "retry")


def test_decoded_events_are_ordinary_instances() -> None:
    (event,) = decode(b"event: e\nid: 1\nretry: 5\ndata: d\n\n")
    assert type(event) is SSEEvent
    assert event == SSEEvent("e", "d", "1", 5)
    assert event == SSEEvent(event="e", data="d", id="1", retry=5)
    assert hash(event) == hash(SSEEvent("e", "d", "1", 5))
    assert repr(event) == "SSEEvent(event='e', data='d', id='1', retry=5)"
    with pytest.raises(AttributeError):
        event.event = "x"  # type: ignore[misc]
    assert event._replace(data="z") == SSEEvent("e", "z", "1", 5)
    assert event._asdict() == {"event": "e", "data": "d", "id": "1", "retry": 5}


def test_events_from_every_path_are_named_tuples() -> None:
    # each chunk takes one way of building events: a block of "data:" events, a piece
    # of an "event:" and a "data:" line, and the line-by-line path
    chunks = [b"data: a\n\ndata: b\n\n", b"event: t\ndata: c\n\n", b": x\ndata: d\n\n"]
    events = decode(*chunks) + decode(*byte_chunks(b"".join(chunks)))
    assert [e.data for e in events] == ["a", "b", "c", "d"] * 2
    assert all(type(e) is SSEEvent for e in events)
    assert events[2] == ("t", "c", None, None)  # a tuple: equal to a plain one
    event, data, id, retry = events[3]
    assert (event, data, id, retry) == ("message", "d", None, None)


# --------------------------------------------------------------------------- #
# Line ends
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_each_line_ending_style(eol: bytes) -> None:
    stream = eol.join([b"event: e", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert decode(stream) == [ev("a\nb", event="e"), ev("c")]
    assert decode(*byte_chunks(stream)) == [ev("a\nb", event="e"), ev("c")]


def test_mixed_line_endings() -> None:
    stream = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
    assert decode(stream) == [ev("a\nb\nc"), ev("d")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # If the LF were a second line end it would be a blank line and dispatch "a".
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [ev("a\nb")]
    assert decoder.feed(b"\n") == []  # second half of a CRLF, not another blank line
    assert decoder.close() == []


def test_lone_cr_at_chunk_end_is_a_line_end_immediately() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\r") == [ev("a")]  # the CR is the blank line
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"\r") == [ev("b")]  # CR then CR: two line ends
    assert decoder.feed(b"data: c\r") == []
    assert decoder.feed(b"") == []  # an empty chunk does not forget the pending CR
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [ev("c")]


def test_only_the_first_lf_after_a_split_cr_is_swallowed() -> None:
    assert decode(b"data: a\r", b"\n\n") == [ev("a")]
    assert decode(b"data: a\r", b"\n", b"\n") == [ev("a")]


def test_lf_after_a_chunk_with_a_cr_in_the_middle_is_a_line_end() -> None:
    # Only a CR that is the *last byte* of a chunk can pair with a leading LF.
    assert decode(b"data: a\rdata", b"\n\n") == [ev("a\n")]
    assert decode(b"data: a\r\r", b"x", b"\n\n") == [ev("a")]


def test_unicode_line_separators_are_not_line_ends() -> None:
    value = "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\x1dh\x1ei"
    assert decode(f"data: {value}\n\n".encode()) == [ev(value)]


# --------------------------------------------------------------------------- #
# Fields and comments
# --------------------------------------------------------------------------- #


def test_comment_lines_are_ignored() -> None:
    stream = b": hello\n:\ndata: a\n: between\ndata: b\n:\n\n: keep-alive\n\n"
    assert decode(stream) == [ev("a\nb")]


def test_comments_alone_dispatch_nothing() -> None:
    assert decode(b": ping\n\n: ping\n\n") == []


def test_multi_line_data() -> None:
    assert decode(b"data: line one\ndata: line two\ndata: line three\n\n") == [
        ev("line one\nline two\nline three")
    ]


def test_only_one_trailing_newline_is_removed() -> None:
    assert decode(b"data: a\ndata:\n\n") == [ev("a\n")]
    assert decode(b"data:\ndata:\n\n") == [ev("\n")]


def test_data_with_no_colon_appends_an_empty_line() -> None:
    assert decode(b"data\n\n") == [ev("")]
    assert decode(b"data\ndata\n\n") == [ev("\n")]
    assert decode(b"data: a\ndata\n\n") == [ev("a\n")]


def test_a_single_space_after_the_colon_is_stripped() -> None:
    assert decode(b"data:a\n\n") == [ev("a")]
    assert decode(b"data: a\n\n") == [ev("a")]
    assert decode(b"data:  a\n\n") == [ev(" a")]
    assert decode(b"data:\ta\n\n") == [ev("\ta")]
    assert decode(b"data: a \n\n") == [ev("a ")]
    assert decode(b"data: a: b\n\n") == [ev("a: b")]  # only the first colon splits
    assert decode(b"event:  x\ndata\n\n") == [ev("", event=" x")]


def test_event_field_sets_type_and_resets_after_dispatch() -> None:
    stream = b"event: add\ndata: 1\n\ndata: 2\n\nevent: remove\ndata: 3\n\n"
    assert decode(stream) == [ev("1", event="add"), ev("2"), ev("3", event="remove")]


def test_last_event_field_wins_and_empty_event_means_message() -> None:
    assert decode(b"event: a\nevent: b\ndata\n\n") == [ev("", event="b")]
    assert decode(b"event: a\nevent:\ndata\n\n") == [ev("")]
    assert decode(b"event: a\nevent\ndata\n\n") == [ev("")]


def test_unknown_fields_are_ignored_and_names_are_case_sensitive() -> None:
    stream = b"foo: bar\nData: x\nDATA: y\n data: z\nid : 1\ndata: ok\n\n"
    assert decode(stream) == [ev("ok")]


def test_field_values_keep_nulls_and_odd_characters() -> None:
    assert decode("data: a\x00b \ufeff é\n\n".encode()) == [ev("a\x00b \ufeff é")]


# --------------------------------------------------------------------------- #
# id
# --------------------------------------------------------------------------- #


def test_id_persists_across_events() -> None:
    stream = b"data: a\n\nid: 1\ndata: b\n\ndata: c\n\nid: 2\ndata: d\n\n"
    assert decode(stream) == [ev("a"), ev("b", id="1"), ev("c", id="1"), ev("d", id="2")]


def test_empty_id_resets_the_last_event_id_to_the_empty_string() -> None:
    # Spec: an ``id`` field sets the last event ID buffer to its value, which may
    # be empty.  We report that as "" and keep None for "no id field seen yet".
    stream = b"id: 1\ndata: a\n\nid:\ndata: b\n\nid: 2\ndata: c\n\nid\ndata: d\n\ndata: e\n\n"
    assert decode(stream) == [
        ev("a", id="1"),
        ev("b", id=""),
        ev("c", id="2"),
        ev("d", id=""),
        ev("e", id=""),
    ]


def test_id_applies_to_the_event_being_built_wherever_it_appears() -> None:
    assert decode(b"data: a\nid: 7\n\n") == [ev("a", id="7")]


def test_id_without_data_persists_to_the_next_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 5\n\n") == []
    assert decoder.last_event_id == "5"  # a blank line updates it even without data
    assert decoder.feed(b"data: a\n\n") == [ev("a", id="5")]


def test_id_containing_null_is_ignored() -> None:
    stream = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\nid: \x00\ndata: c\n\n"
    assert decode(stream) == [ev("a", id="1"), ev("b", id="1"), ev("c", id="1")]


def test_last_event_id_property_follows_dispatch() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id is None
    assert decoder.feed(b"id: 1\ndata: a\n") == []
    assert decoder.last_event_id is None  # the event has not been dispatched yet
    decoder.feed(b"\n")
    assert decoder.last_event_id == "1"


# --------------------------------------------------------------------------- #
# retry
# --------------------------------------------------------------------------- #


def test_retry_is_reported_on_events_and_persists() -> None:
    stream = b"data: a\n\nretry: 1000\ndata: b\n\ndata: c\n\nretry: 0250\ndata: d\n\n"
    assert decode(stream) == [ev("a"), ev("b", retry=1000), ev("c", retry=1000), ev("d", retry=250)]


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b" ",
        b"abc",
        b"10.5",
        b"-1",
        b"+1",
        b"1e3",
        b"1 ",
        b" 1",  # "retry:  1" leaves a space in the value
        b"1_000",
        "\u0661\u0662".encode(),  # ARABIC-INDIC DIGITS: str.isdigit() but not ASCII
        "\u00b2".encode(),  # SUPERSCRIPT TWO
        b"\xff",
    ],
)
def test_invalid_retry_is_ignored(value: bytes) -> None:
    stream = b"retry: 500\ndata: a\n\nretry: " + value + b"\ndata: b\n\nretry\ndata: c\n\n"
    assert decode(stream) == [ev("a", retry=500), ev("b", retry=500), ev("c", retry=500)]


def test_retry_takes_effect_even_if_its_event_is_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: 3000\n\n") == []
    assert decoder.retry == 3000
    assert decoder.feed(b"data: a\n\n") == [ev("a", retry=3000)]


def test_absurdly_long_retry_is_ignored_without_raising() -> None:
    stream = b"retry: 7\nretry: " + b"9" * 10_000 + b"\ndata: a\n\n"
    assert decode(stream) == [ev("a", retry=7)]
    assert decode(b"retry: " + b"0" * 10_000 + b"42\ndata: a\n\n") == [ev("a", retry=42)]


# --------------------------------------------------------------------------- #
# Dispatch and end of stream
# --------------------------------------------------------------------------- #


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert decode(b"\n\n\n\r\n\r\r") == []
    assert decode(b"event: foo\n\n") == []
    assert decode(b"event: foo\n\ndata: x\n\n") == [ev("x")]  # event type was reset


def test_events_are_returned_as_soon_as_they_are_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b\n\ndata: c") == [ev("a"), ev("b")]
    assert decoder.feed(b"\n\n") == [ev("c")]
    assert decoder.close() == []


def test_unfinished_event_at_eof_is_dropped() -> None:
    assert decode(b"data: a\n\ndata: b\n") == [ev("a")]
    assert decode(b"data: a\n\ndata: b") == [ev("a")]
    assert decode(b"data: a\n\ndata: b\r") == [ev("a")]


def test_close_processes_a_final_unterminated_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\nretry: 1234") == [ev("a")]
    assert decoder.retry is None
    assert decoder.close() == []
    assert decoder.retry == 1234


def test_feed_after_close_raises_and_close_is_idempotent() -> None:
    decoder = SSEDecoder()
    assert not decoder.closed
    assert decoder.close() == []
    assert decoder.closed
    with pytest.raises(ValueError):
        decoder.feed(b"data: a\n\n")
    with pytest.raises(ValueError):
        decoder.feed(b"")
    assert decoder.close() == []


def test_empty_stream() -> None:
    assert decode() == []
    assert decode(b"", b"") == []


# --------------------------------------------------------------------------- #
# BOM and UTF-8
# --------------------------------------------------------------------------- #


def test_leading_bom_is_stripped() -> None:
    assert decode(BOM + b"data: a\n\n") == [ev("a")]


@pytest.mark.parametrize("split", [1, 2, 3, 4])
def test_leading_bom_split_across_chunks_is_stripped(split: int) -> None:
    stream = BOM + b"data: a\n\n"
    assert decode(stream[:split], stream[split:]) == [ev("a")]
    assert decode(*byte_chunks(stream)) == [ev("a")]


def test_only_one_bom_is_stripped() -> None:
    # The second BOM becomes part of the first field name, "\ufeffdata", which is
    # unknown, so the first event has no data.
    assert decode(BOM + BOM + b"data: a\n\ndata: b\n\n") == [ev("b")]
    assert decode(*byte_chunks(BOM + BOM + b"data: a\n\n")) == []


def test_bom_after_the_start_is_not_stripped() -> None:
    assert decode(b"data: a\n\n" + BOM + b"data: b\n\n") == [ev("a")]
    assert decode(b"\n" + BOM + b"data: b\n\n") == []
    # ... not even when it starts a chunk right after a line end.
    assert decode(b"data: a\n\n", BOM + b"data: b\n\n") == [ev("a")]
    assert decode(b"\r", b"\n" + BOM + b"data: b\n\n") == []


def test_bom_only_stream() -> None:
    assert decode(BOM) == []
    assert decode(BOM + b"\n") == []


def test_partial_bom_is_not_a_bom() -> None:
    assert decode(b"\xef\xbbdata: a\n\n") == []  # "\ufffddata" is an unknown field
    assert decode(b"data: \xef\xbb\n\n") == [ev("\ufffd")]


def test_multibyte_character_split_across_chunks() -> None:
    text = "data: é日本🎉\n\n"
    stream = text.encode()
    expected = [ev("é日本🎉")]
    for i in range(len(stream) + 1):
        assert decode(stream[:i], stream[i:]) == expected, i
    assert decode(*byte_chunks(stream)) == expected


def test_invalid_utf8_is_replaced() -> None:
    assert decode(b"data: a\xffb\n\n") == [ev("a\ufffdb")]
    # A truncated sequence right before the line end is one replacement character.
    assert decode(b"data: \xe6\x97\n\n") == [ev("\ufffd")]
    assert decode(b"data: \xe6\x97\r\n\r\n") == [ev("\ufffd")]
    assert decode(b"data: \xf0\x9f\x8e\n\xff\n\n") == [ev("\ufffd")]


def test_long_line_in_small_chunks() -> None:
    value = ("x" * 99 + "é") * 2000  # 200 KB, a 2-byte character every 100 bytes
    stream = f"data: {value}\n\n".encode()
    chunks = [stream[i : i + 37] for i in range(0, len(stream), 37)]
    assert decode(*chunks) == [ev(value)]


# --------------------------------------------------------------------------- #
# Real-world shapes
# --------------------------------------------------------------------------- #


def test_openai_style_stream() -> None:
    chunks = [
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"delta": d}]}
        for d in ({"role": "assistant"}, {"content": "Hel"}, {"content": "lo"}, {})
    ]
    stream = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    stream += b"data: [DONE]\n\n"
    for pieces in ([stream], [stream[i : i + 7] for i in range(0, len(stream), 7)]):
        events = decode(*pieces)
        assert [e.event for e in events] == ["message"] * 5
        assert [json.loads(e.data) for e in events[:-1]] == chunks
        assert events[-1] == ev("[DONE]")


def test_data_blocks_that_are_not_only_data_events_are_read_line_by_line() -> None:
    # Each chunk starts with "data: " and ends in a blank line, the shape the decoder
    # reads without lines, but holds another line, two data lines or a blank line in a
    # row; a tail carried from the chunk before, and bytes that are not UTF-8 next to the
    # "data: " and the final blank line, must not change what is read.
    chunks = [
        b"data: a\nid: 7\n\ndata: b\n\n",
        b"data: c\ndata: d\n\ndata: \xff\n\n\n",
        b"data: \xe2\x82\n\ndata: e\n\n: note\n\ndata: f",
        b"\xe2\x82\xac\n\ndata: g\xe2\x82\n\n",
    ]
    expected = [
        ev("a", id="7"),
        ev("b", id="7"),
        ev("c\nd", id="7"),
        ev("\ufffd", id="7"),
        ev("\ufffd", id="7"),
        ev("e", id="7"),
        ev("f\u20ac", id="7"),
        ev("g\ufffd", id="7"),
    ]
    assert decode(*chunks) == expected
    assert decode(b"".join(chunks)) == expected
    assert decode(*byte_chunks(b"".join(chunks))) == expected


def test_anthropic_style_named_events() -> None:
    stream = (
        b"event: message_start\n"
        b'data: {"type":"message_start","message":{"id":"msg_1","content":[]}}\n\n'
        b"event: content_block_start\n"
        b'data: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
        b"event: ping\n"
        b'data: {"type": "ping"}\n\n'
        b"event: content_block_delta\n"
        b'data: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hi \xf0\x9f\x91\x8b"}}\n\n'
        b"event: content_block_stop\n"
        b'data: {"type":"content_block_stop","index":0}\n\n'
        b"event: message_stop\n"
        b'data: {"type":"message_stop"}\n\n'
    )
    names = [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_stop",
    ]
    for pieces in ([stream], byte_chunks(stream)):
        events = decode(*pieces)
        assert [e.event for e in events] == names
        assert [json.loads(e.data)["type"] for e in events] == names
        assert json.loads(events[3].data)["delta"]["text"] == "Hi 👋"
        assert all(e.id is None and e.retry is None for e in events)


# --------------------------------------------------------------------------- #
# Reference implementation for the model-based property test
# --------------------------------------------------------------------------- #


def reference_decode(stream: bytes) -> tuple[list[SSEEvent], str | None, int | None]:
    """The spec's steps, literally, on a whole stream decoded in one go.

    Returns the dispatched events, the last event ID string and the reconnection
    time after end of file.
    """
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):  # one leading BOM is ignored
        text = text[1:]

    # Parse lines: end-of-line = ( cr lf / cr / lf ), character by character.
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\r":
            lines.append(current)
            current = ""
            if text[i + 1 : i + 2] == "\n":
                i += 1
        elif char == "\n":
            lines.append(current)
            current = ""
        else:
            current += char
        i += 1
    final_line = current  # not followed by an end-of-line

    data_buffer = ""
    event_type_buffer = ""
    last_event_id_buffer: str | None = None
    last_event_id_string: str | None = None
    reconnection_time: int | None = None
    events: list[SSEEvent] = []

    def process_field(name: str, value: str) -> None:
        nonlocal data_buffer, event_type_buffer, last_event_id_buffer, reconnection_time
        if name == "event":
            event_type_buffer = value
        elif name == "data":
            data_buffer += value + "\n"
        elif name == "id":
            if "\u0000" not in value:
                last_event_id_buffer = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            reconnection_time = int(value)  # only ASCII digits; otherwise ignored

    def process_line(line: str) -> None:
        nonlocal data_buffer, event_type_buffer, last_event_id_string
        if line == "":
            # Dispatch the event.
            last_event_id_string = last_event_id_buffer
            if data_buffer == "":
                data_buffer = ""
                event_type_buffer = ""
                return
            if data_buffer.endswith("\n"):
                data_buffer = data_buffer[:-1]
            events.append(
                SSEEvent(
                    event=event_type_buffer if event_type_buffer != "" else "message",
                    data=data_buffer,
                    id=last_event_id_string,
                    retry=reconnection_time,
                )
            )
            data_buffer = ""
            event_type_buffer = ""
        elif line.startswith(":"):
            pass
        elif ":" in line:
            name = line[: line.index(":")]
            value = line[line.index(":") + 1 :]
            if value.startswith(" "):
                value = value[1:]
            process_field(name, value)
        else:
            process_field(line, "")

    for line in lines:
        process_line(line)
    if final_line:
        process_line(final_line)  # can only update buffers; EOF discards the event
    return events, last_event_id_string, reconnection_time


def run_decoder(chunks: Sequence[bytes]) -> tuple[list[SSEEvent], str | None, int | None]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events, decoder.last_event_id, decoder.retry


def test_reference_implementation_agrees_on_examples() -> None:
    stream = BOM + b"retry: 10\r\nid: 1\rdata: a\n\n:c\nevent: e\ndata\ndata:  b\r\n\r\nid\n\n"
    expected = [ev("a", id="1", retry=10), ev("\n b", event="e", id="1", retry=10)]
    assert reference_decode(stream) == (expected, "", 10)
    assert run_decoder([stream]) == (expected, "", 10)


# --------------------------------------------------------------------------- #
# Hypothesis strategies
# --------------------------------------------------------------------------- #

# Field values never contain CR or LF (those would end the line) but do contain
# everything else that is interesting: colons, spaces, NUL, digits, BOMs, Unicode
# line separators and multi-byte characters.
value_chars = st.sampled_from(
    [
        *[":", " ", "  ", "\x00", "\t", "0", "7", "42", "a", "Z", "é", "日", "🎉"],
        *["\ufeff", "\u2028", "\x85", "\x0b", "\u0661", "data", "id"],
    ]
)
values = st.lists(value_chars, max_size=4).map("".join)
field_names = st.sampled_from(
    [
        *["data", "data", "data", "event", "event", "id", "id", "retry", "retry"],
        *["foo", "Data", "", "\ufeffdata"],
    ]
)
retry_values = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["", "0", "007", "-1", "1.5", "1 ", "\u0661\u0662", "\u00b2"]),
    values,
)


@st.composite
def field_lines(draw: st.DrawFn) -> str:
    name = draw(field_names)
    value = draw(retry_values) if name == "retry" else draw(values)
    style = draw(st.sampled_from(["colon-space", "colon", "bare"]))
    if style == "bare" or (name == "" and style != "colon-space"):
        return name if name else ":"  # an empty bare name would be a blank line
    return f"{name}: {value}" if style == "colon-space" else f"{name}:{value}"


comment_lines = values.map(lambda v: ":" + v)


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    """A stream of events, stray fields, comments and blank lines, mixed line ends."""
    lines: list[str] = []
    event_lines = st.one_of(field_lines(), field_lines(), field_lines(), comment_lines)
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["event"] * 6 + ["comment", "blank", "field"]))
        if kind == "event":
            lines.extend(draw(st.lists(event_lines, min_size=1, max_size=5)))
            lines.append("")
        elif kind == "comment":
            lines.append(draw(comment_lines))
        elif kind == "blank":
            lines.append("")
        else:
            lines.append(draw(field_lines()))
    eols = st.sampled_from(["\n", "\r\n", "\r"])
    text = "".join(line + draw(eols) for line in lines)
    if draw(st.booleans()):
        text += draw(field_lines())  # an unterminated last line
    bom = draw(st.sampled_from(["", "", "\ufeff", "\ufeff\ufeff"]))
    return (bom + text).encode("utf-8")


cut_lists = st.lists(st.integers(min_value=0, max_value=10**6), max_size=12)

property_settings = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --------------------------------------------------------------------------- #
# Property tests
# --------------------------------------------------------------------------- #


@property_settings
@given(stream=sse_streams(), cuts=cut_lists)
def test_rechunking_a_generated_stream_never_changes_the_result(
    stream: bytes, cuts: list[int]
) -> None:
    whole = run_decoder([stream])
    assert run_decoder(split_at(stream, cuts)) == whole
    assert run_decoder(byte_chunks(stream)) == whole


@property_settings
@given(stream=st.binary(max_size=300), cuts=cut_lists)
def test_rechunking_arbitrary_bytes_never_changes_the_result(
    stream: bytes, cuts: list[int]
) -> None:
    whole = run_decoder([stream])
    assert run_decoder(split_at(stream, cuts)) == whole
    assert run_decoder(byte_chunks(stream)) == whole


@property_settings
@given(
    stream=st.one_of(
        sse_streams(),
        st.binary(max_size=200),
        # Arbitrary bytes built from SSE-significant pieces hit the parser harder
        # than uniform noise: line ends, colons, field names, BOM and bad UTF-8.
        st.lists(
            st.sampled_from(
                [
                    *[b"\r", b"\n", b"\r\n", b":", b" ", b"data", b"id", b"event", b"retry"],
                    *[b"1", b"x", BOM, b"\xe6\x97", b"\xa5", b"\xff", b"\x00"],
                ]
            ),
            max_size=40,
        ).map(b"".join),
    ),
    cuts=cut_lists,
)
def test_decoder_matches_the_reference_implementation(stream: bytes, cuts: list[int]) -> None:
    expected = reference_decode(stream)
    assert run_decoder([stream]) == expected
    assert run_decoder(split_at(stream, cuts)) == expected
    assert run_decoder(byte_chunks(stream)) == expected


@st.composite
def llm_shaped_streams(draw: st.DrawFn) -> bytes:
    """Streams shaped like the LLM APIs' (one ``data:`` line per event, or an ``event:``
    line then a ``data:`` line), with the near misses of those shapes mixed in: an empty
    event name or data, no space after the colon, two data lines, a comment, an ``id`` or
    ``retry`` between events, and blank lines in a row."""
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 12))):
        data = draw(values)
        name = draw(values)
        shape = draw(
            st.sampled_from(
                [
                    "data",
                    "data",
                    "named",
                    "named",
                    "nospace",
                    "two",
                    "named-two",
                    "comment",
                    "id",
                    "retry",
                    "blank",
                    "event-only",
                ]
            )
        )
        parts.append(
            {
                "data": f"data: {data}\n\n",
                "named": f"event: {name}\ndata: {data}\n\n",
                "nospace": f"data:{data}\n\n",
                "two": f"data: {data}\ndata: {name}\n\n",
                "named-two": f"event: {name}\ndata: {data}\ndata: {data}\n\n",
                "comment": f": {data}\n",
                "id": f"id: {data}\n",
                "retry": f"retry: {draw(retry_values)}\n",
                "blank": "\n",
                "event-only": f"event: {name}\n\n",
            }[shape]
        )
    text = "".join(parts)
    if draw(st.booleans()):
        text = text.replace("\n", draw(st.sampled_from(["\r\n", "\r"])))
    return text.encode("utf-8")


@property_settings
@given(stream=llm_shaped_streams(), cuts=cut_lists)
def test_llm_shaped_streams_match_the_reference_however_cut(stream: bytes, cuts: list[int]) -> None:
    expected = reference_decode(stream)
    assert run_decoder([stream]) == expected
    assert run_decoder(split_at(stream, cuts)) == expected
    assert run_decoder(byte_chunks(stream)) == expected


class _GeneralOnly(SSEDecoder):
    """A decoder whose every chunk takes the general path: the OpenAI block at the top of
    ``feed()`` is skipped, so the two can be compared chunk by chunk."""

    __slots__ = ()

    def feed(self, data: bytes) -> list[SSEEvent]:
        return self._feed(data)


openai_blocks = st.lists(values, max_size=8).map(
    lambda data: "".join(f"data: {value}\n\n" for value in data).encode()
)


@property_settings
@given(
    # OpenAI-shaped runs around the other shapes and near misses, so that a chunk is
    # often such a block, and often one after a chunk that is not
    stream=st.tuples(openai_blocks, llm_shaped_streams(), openai_blocks).map(b"".join),
    cuts=cut_lists,
    # bad UTF-8 inside a value: a lone continuation byte, a truncated sequence
    bad=st.sampled_from([b"\xc3\xa9", b"\xa9", b"\xc3", b"\xff"]),
    limit=st.sampled_from([None, 12, 40]),
    at_events=st.booleans(),
)
def test_the_openai_block_reads_as_the_general_path_chunk_by_chunk(
    stream: bytes, cuts: list[int], bad: bytes, limit: int | None, at_events: bool
) -> None:
    """Each chunk gives the same events, id and retry through ``feed()`` (which reads an
    OpenAI-shaped block on its own when it may) as through the general path alone, and
    a bound is refused at the same chunk by both."""
    stream = stream.replace("é".encode(), bad)
    if at_events:  # chunks that end where events end, as the block needs
        cuts = [*cuts, *(i + 2 for i in range(len(stream)) if stream.startswith(b"\n\n", i))]
    fast, general = SSEDecoder(limit), _GeneralOnly(limit)
    for chunk in split_at(stream, cuts):
        try:
            expected = general.feed(chunk)
        except EventTooLarge:
            with pytest.raises(EventTooLarge):
                fast.feed(chunk)
            assert fast.closed
            return
        assert fast.feed(chunk) == expected
        assert (fast.last_event_id, fast.retry) == (general.last_event_id, general.retry)
    assert fast.close() == general.close()
    assert (fast.last_event_id, fast.retry) == (general.last_event_id, general.retry)


def test_the_openai_block_is_read_on_its_own_only_when_nothing_else_is_in_play(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The property test above compares the two paths; this one shows that both are
    taken: which chunks skip the general path, and which near misses fall back to it."""
    general: list[bytes] = []
    real = SSEDecoder._feed

    def counting(self: SSEDecoder, data: bytes) -> list[SSEEvent]:
        general.append(data)
        return real(self, data)

    monkeypatch.setattr(SSEDecoder, "_feed", counting)
    decoder = SSEDecoder()
    openai = b'data: {"a": 1}\n\ndata: [DONE]\n\n'
    assert decoder.feed(b"data: first\n\n") == [ev("first")]  # the first chunk: BOM check
    assert decoder.feed(openai) == [ev('{"a": 1}'), ev("[DONE]")]
    assert decoder.feed(b"data: x\n\ndata: y") == [ev("x")]  # a tail left over
    assert decoder.feed(b"z\n\n") == [ev("yz")]
    assert general == [b"data: first\n\n"]
    near_misses = [
        b"data: a\ndata: b\n\n",  # an LF inside a value: two data lines
        b"data: a\n\nid: 7\n\n",
        b"data: a\n\n: ping\n\n",
        b"data: a\n",  # no blank line at the end: an event is begun ...
        b"\n",  # ... so the next chunk may not be read on its own
        b"data: a\r\n\r\n",  # a CR
        b"data:a\n\n",  # no space: not the shape's first line
        b"event: e\ndata: a\n\n",
    ]
    for chunk in near_misses:
        decoder.feed(chunk)
    assert general[1:] == near_misses
    assert decoder.feed(openai) == [ev('{"a": 1}', id="7"), ev("[DONE]", id="7")]
    assert len(general) == 1 + len(near_misses)
    decoder.close()
    with pytest.raises(ValueError, match="closed"):
        decoder.feed(openai)  # a closed decoder does not read the block either
