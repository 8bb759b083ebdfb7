"""Incremental Server-Sent Events decoder.

Implements the WHATWG HTML "Parsing an event stream" and "Interpreting an event
stream" algorithms (https://html.spec.whatwg.org/multipage/server-sent-events.html)
for a byte stream that arrives in arbitrary chunks::

    decoder = SSEDecoder()
    async for chunk in response.aiter_bytes():
        for event in decoder.feed(chunk):
            handle(event)
    decoder.close()  # drops an unfinished event, forbids further feed()

Why the decoder works at the bytes level
----------------------------------------
This code sits under every streamed LLM response, so it is written to do as
little Python-level work per byte as possible, and it is correct by construction
for arbitrary chunking:

* The only line terminators SSE knows are CR LF, LF and CR.  Both bytes are ASCII
  and can never occur inside a multi-byte UTF-8 sequence, so line boundaries can
  be located in the raw bytes with ``bytes.rfind`` (a C-speed memrchr) without
  decoding anything.  A chunk is split into "complete lines" and an unterminated
  tail; only complete lines are ever decoded, so a multi-byte character split
  across two ``feed()`` calls is decoded correctly and never turns into U+FFFD.
* All complete lines of a chunk are decoded with *one* ``bytes.decode`` call.
  Because CR and LF always end an incomplete UTF-8 sequence, decoding a block of
  whole lines with ``errors="replace"`` gives exactly the same text as decoding
  each line on its own, but costs one C call per chunk instead of one per line.
* The decoded block is then split with ``str.split("\\n")`` -- never with
  ``str.splitlines()``, which would also split on U+2028, U+0085, VT, FF and
  friends, none of which end a line in SSE.  The common case (a chunk with LF
  line ends only) needs no further work; CR LF and lone CR are normalised to LF
  with two ``str.replace`` calls only when the chunk contains a CR.
* Lines are interpreted in one tight loop over the list; the most common line,
  ``data: ...``, is recognised with a single slice comparison.
* Two shapes skip the list of lines.  A block of ``data: X`` events only (OpenAI's
  stream) is split at the ``"\\n\\ndata: "`` between events, which is that shape
  exactly when no value holds an LF; an event that is one ``data:`` line, or an
  ``event:`` line then a ``data:`` line (Anthropic's), is read with a slice or two.
  Anything else, or an event begun in an earlier chunk, takes the line-by-line
  path, so both give what the spec's algorithm gives.  The OpenAI block is tried
  first thing in ``feed()``, behind one flag that says nothing else is in play (no
  CR, event or BOM pending, not closed), since a 1 KB chunk holds only three or
  four events and what is done once per call weighs as much as that; each value is
  tested for an LF as its event is built, and the decoder's state changes only once
  the whole block is proved, so a block not of that shape is read afresh line by line.
* A CR LF pair split across two chunks is handled by remembering that the
  previous chunk ended in CR and dropping a single LF at the start of the next.
* An unterminated tail is kept as the bytes after a chunk's last line end; when a
  chunk adds to it without ending it, it becomes a ``bytearray`` (amortised O(1)
  appends), and only the new chunk is searched for line ends, so a long line that
  arrives in many small chunks costs linear, not quadratic, time.
* The UTF-8 BOM is stripped from the first decoded block.  Because nothing is
  decoded before the first line is complete, a BOM split across chunks is still
  recognised, and only one BOM, at the very start of the stream, is removed.

Reporting of ``id`` and ``retry``
---------------------------------
``SSEEvent.id`` is the stream's *last event ID* when the event was dispatched.
It persists across events until the server sends another ``id`` field.  ``None``
means no ``id`` field has been seen yet; an empty ``id`` field (``id`` or
``id:``) resets it to the empty string, as the spec says (the spec's initial
value is also the empty string, so callers deciding whether to send a
``Last-Event-ID`` header on reconnection should treat ``None`` and ``""`` the
same: send nothing).  An ``id`` value containing U+0000 NULL is ignored.

``SSEEvent.retry`` is the reconnection time (milliseconds) in effect when the
event was dispatched: the value of the last valid ``retry`` field seen so far in
the stream, or ``None``.  A ``retry`` value is valid when it is one or more
ASCII digits; anything else (including an empty value, signs, spaces and
non-ASCII digits) is ignored, as is a value too long for ``int()`` to convert
(thousands of digits).  Like the spec, a ``retry`` field takes effect as
soon as it is parsed, even if the event it belongs to is never dispatched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NamedTuple

__all__ = ["MAX_EVENT_BYTES", "EventTooLarge", "SSEDecoder", "SSEEvent"]

MAX_EVENT_BYTES: Final = 8 * 2**20
"""The default bound on one SSE line, and on one event's data across its lines (8 MiB):
far above any real stream event (a few hundred bytes; a whole tool call's arguments in
one event at most some KB), and what keeps a line that never ends from growing."""


class EventTooLarge(ValueError):
    """An unterminated line, or an unfinished event's data, passed ``limit``."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        super().__init__(f"{what} is larger than {limit:,} bytes")


class SSEEvent(NamedTuple):
    """One dispatched Server-Sent Event.

    Attributes:
        event: The event type: the ``event`` field's value, or ``"message"``.
        data: The ``data`` field values joined with ``"\\n"``.
        id: The last event ID in effect at dispatch (``None`` if never set).
        retry: The reconnection time in milliseconds in effect at dispatch, or ``None``.

    An immutable named tuple: build it by keyword or position, copy it with a field
    changed with ``event._replace(data=...)``, and read it as a dict with ``_asdict()``.
    Being a tuple, it is also iterable (``event, data, id, retry = sse``), indexable,
    and equal to (and hashes as) a plain tuple of the same four values.
    """

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


# The generated ``SSEEvent.__new__`` is a Python function taking keywords and defaults;
# the decoder, which always has all four values, builds the tuple directly, in C.
_EventValues = tuple[str, str, str | None, int | None]
_new_event: Final[Callable[[type[SSEEvent], _EventValues], SSEEvent]] = tuple.__new__


def _parse_retry(value: str, current: int | None) -> int | None:
    """Return the reconnection time after a ``retry`` field with ``value``.

    Only one or more ASCII digits set it (``str.isdigit()`` alone would also accept
    non-ASCII digits such as U+0661 or U+00B2); any other value is ignored and
    ``current`` is kept.  A value with more digits than ``int()`` will convert
    (``sys.get_int_max_str_digits()``, after dropping leading zeros) is ignored too.
    """
    if not (value.isascii() and value.isdigit()):
        return current
    try:
        return int(value.lstrip("0") or "0")
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return current


def _simple_event(piece: str) -> tuple[str, str] | None:
    """The type and data of an event whose lines are ``piece`` (no line ends after the
    last), when it is one of the two shapes LLM streams send: a single ``data: X`` line,
    or ``event: T`` then ``data: X``. None for anything else, which is read line by line."""
    if piece[:6] == "data: ":
        return None if "\n" in piece else ("message", piece[6:])
    if piece[:7] != "event: ":
        return None
    first_end = piece.find("\n")
    if first_end < 0 or piece[first_end + 1 : first_end + 7] != "data: ":
        return None
    if piece.find("\n", first_end + 1) != -1:
        return None
    return piece[7:first_end] or "message", piece[first_end + 7 :]


_LF: Final = 0x0A
_CR: Final = 0x0D
_BOM: Final = "\ufeff"


class SSEDecoder:
    """Incremental, spec-compliant decoder of a ``text/event-stream`` byte stream.

    Feed raw bytes as they arrive with :meth:`feed`; each call returns the events
    completed by that chunk.  Call :meth:`close` at end of stream: it processes a
    final unterminated line (which can update :attr:`last_event_id` or
    :attr:`retry`) and discards any unfinished event, as the spec requires.
    """

    __slots__ = (
        "_closed",
        "_counted",
        "_counted_in",
        "_data",
        "_data_size",
        "_event_type",
        "_id_buffer",
        "_last_event_id",
        "_limit",
        "_pending",
        "_ready",
        "_retry",
        "_skip_lf",
        "_started",
    )

    def __init__(self, max_event_bytes: int | None = None) -> None:
        """``max_event_bytes``: the bound on an unterminated line (bytes) and on an
        unfinished event's data (characters, the lines joined); past it :meth:`feed`
        raises :class:`EventTooLarge` and the decoder is unusable. Checked once per chunk,
        so what is held never exceeds it by more than one chunk. None: no bound."""
        self._limit = max_event_bytes
        self._data_size = 0  # characters of "\n".join(_data[:_counted])
        self._counted = 0
        self._counted_in: list[str] | None = None  # the data buffer those were counted in
        self._pending: bytes | bytearray = b""  # unterminated tail of the stream
        self._skip_lf = False  # the previous chunk ended in CR
        self._started = False  # a line has been decoded (BOM already handled)
        self._closed = False
        self._ready = False  # feed() may try the OpenAI block first (see _feed())
        self._data: list[str] = []  # data buffer, one item per data field
        self._event_type = ""  # event type buffer
        self._id_buffer: str | None = None  # last event ID buffer
        self._last_event_id: str | None = None  # last event ID string
        self._retry: int | None = None  # reconnection time

    @property
    def last_event_id(self) -> str | None:
        """The last event ID string, for a ``Last-Event-ID`` header on reconnect.

        Updated whenever a blank line is processed (even one that dispatches
        nothing, as in the spec).  ``None`` or ``""`` mean "send no header".
        """
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time in milliseconds set by the stream, or ``None``."""
        return self._retry

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Process a chunk of the stream and return the events it completes."""
        end = data.rfind(b"\n") + 1  # just past the last LF
        if (
            self._ready
            and end > 1
            and data[end - 2] == _LF  # the block ends in a blank line (the tail holds no LF)
            # an operator: cheaper than a method call. With an int: `b"\r" in data` would
            # first try the bytes as an int, and raise and clear a TypeError each time
            and _CR not in data
        ):
            pending = self._pending
            if (pending or data)[:6] == b"data: ":
                # An OpenAI-shaped block, "data: X\n\n" events only? Decoded without its
                # first "data: " and its last "\n\n" (ASCII both: the text is the same), and
                # split at the "\n\ndata: " between events, it is exactly that when no value
                # holds a line end: every other LF would be inside a value.
                if pending:
                    text = (pending[6:] + data[: end - 2]).decode("utf-8", "replace")
                else:
                    text = data[6 : end - 2].decode("utf-8", "replace")
                values = text.split("\n\ndata: ")
                id_buffer = self._id_buffer
                retry = self._retry
                new = _new_event
                cls = SSEEvent
                # a loop, not a comprehension: that would make cells of these four names
                # on every call of feed(), this path taken or not; and events.append,
                # not a bound `append`: 3.11 specialises that call to a list append
                events: list[SSEEvent] = []
                for value in values:
                    if "\n" in value:  # a memchr while the event is built: cheaper than a join
                        return self._feed(data)  # not that shape: read it line by line
                    events.append(new(cls, ("message", value, id_buffer, retry)))
                # the block is proved: only now does the decoder's state change
                tail = self._pending = data[end:]
                self._last_event_id = id_buffer
                limit = self._limit
                if limit is not None and len(tail) > limit:
                    self._too_large("a line without an end")
                return events
        return self._feed(data)

    def _feed(self, data: bytes) -> list[SSEEvent]:
        """:meth:`feed` for any chunk, by the general path (the module docstring's steps).

        It ends by setting ``_ready``: whether the next chunk may try the OpenAI block at
        the top of :meth:`feed` before any other test. That block may be read on its own
        only when nothing else is in play: the decoder is open, a line has been decoded
        (the BOM is done with), no CR waits for its LF, and no event was begun (no data,
        no event type). Only this method, :meth:`close` and :meth:`_too_large` change any
        of those, so ``_ready`` is cleared first here (an exception leaves it so), there,
        and set from them again when a chunk has been read. The block leaves them all as
        they were, so ``feed()`` pays one attribute read for all five tests.
        """
        if self._closed:
            raise ValueError("feed() called on a closed SSEDecoder")
        if not data:
            return []  # no change of state: _ready stays as it was
        self._ready = False  # until this chunk is read without raising
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == _LF:
                data = data[1:]
                if not data:
                    return []
        size = len(data)
        end = data.rfind(b"\n") + 1  # just past the last line terminator
        has_cr = _CR in data
        if has_cr:
            cr = data.rfind(b"\r")
            if cr >= end:
                end = cr + 1
                if end == size:
                    self._skip_lf = True  # an LF starting the next chunk ends no line
        pending = self._pending
        limit = self._limit
        if not end:
            if type(pending) is not bytearray:  # a line growing over chunks: append in place
                pending = self._pending = bytearray(pending)
            pending += data
            if limit is not None and len(pending) > limit:
                self._too_large("a line without an end")
            events: list[SSEEvent] = []
        else:
            self._pending = data[end:]
            block = pending + data[:end] if pending else data[:end]  # [:size] is data itself
            text = block.decode("utf-8", "replace")
            if has_cr:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if not self._started:
                self._started = True
                if text.startswith(_BOM):
                    text = text[1:]
            events = self._process_text(text)
            if limit is not None:
                self._check_size()
        self._ready = (
            self._started and not self._skip_lf and not self._data and not self._event_type
        )
        return events

    def _check_size(self) -> None:
        """Raise if the unterminated tail or the unfinished event's data passed the bound.
        Only data added since the last check is counted, so an event that arrives in many
        chunks costs linear time; a stream of whole events (the common case) leaves no
        data behind and costs two length reads."""
        limit = self._limit
        assert limit is not None
        if len(self._pending) > limit:
            self._too_large("a line without an end")
        data = self._data
        if not data:
            return
        counted = self._counted
        if data is not self._counted_in:  # a new event's buffer (dispatch makes a new list)
            self._counted_in = data
            counted = 0
            self._data_size = -1  # n lines are joined by n - 1 line ends
        if counted < len(data):
            self._data_size += sum(map(len, data[counted:])) + len(data) - counted
            self._counted = len(data)
            if self._data_size > limit:
                self._too_large("an event's data")

    def _too_large(self, what: str) -> None:
        limit = self._limit
        assert limit is not None
        self._closed = True
        self._ready = False
        self._pending = b""
        self._data = []
        raise EventTooLarge(limit, what)

    def close(self) -> list[SSEEvent]:
        """Signal end of stream.

        A final line without a terminator is processed as a field line, then any
        unfinished event (one not followed by a blank line) is discarded.  Returns
        the events dispatched by closing, which per the spec is always none; the
        list return keeps the call symmetrical with :meth:`feed`.  Calling
        :meth:`close` again is a no-op; :meth:`feed` raises :class:`ValueError`.
        """
        if self._closed:
            return []
        self._closed = True
        self._ready = False
        events: list[SSEEvent] = []
        if self._pending:
            text = self._pending.decode("utf-8", "replace")
            self._pending = b""
            if not self._started and text.startswith(_BOM):
                text = text[1:]
            self._started = True
            if text:  # a BOM alone is not a line
                events = self._process([text])
        # End of file: pending event data is discarded.
        self._data = []
        self._event_type = ""
        return events

    def _process_text(self, text: str) -> list[SSEEvent]:
        """Interpret ``text``, whole lines each ending in LF, and return the events it
        dispatches.

        Split at every blank line (``"\n\n"``), the text is a run of whole events and a
        rest: each piece but the last is an event's lines, the last holds the lines of an
        event not yet ended. Most events of an LLM stream are one ``data:`` line, or an
        ``event:`` line and a ``data:`` line (Anthropic); those are read from the piece
        with a slice or two and no list of lines. Anything else (comments, ``id``,
        ``retry``, several data lines, fields without the space, an event begun in an
        earlier chunk) goes through :meth:`_process` line by line, so both paths give what
        the spec's line-by-line algorithm gives.
        """
        events: list[SSEEvent] = []
        new = _new_event
        cls = SSEEvent
        pieces = text.split("\n\n")
        rest = pieces.pop()
        for piece in pieces:
            # a piece is an event's lines; read whole when no event was begun before it
            shape = None if self._data or self._event_type else _simple_event(piece)
            if shape is None:
                events += self._process([*piece.split("\n"), ""])
                continue
            id_buffer = self._id_buffer
            self._last_event_id = id_buffer  # the blank line sets it
            events.append(new(cls, (*shape, id_buffer, self._retry)))
        if rest:
            lines = rest.split("\n")
            lines.pop()  # the empty string after the final terminator
            events += self._process(lines)
        return events

    def _process(self, lines: list[str]) -> list[SSEEvent]:
        """Interpret decoded lines (without terminators) and return dispatched events."""
        events: list[SSEEvent] = []
        data_buf = self._data
        event_type = self._event_type
        id_buffer = self._id_buffer
        last_event_id = self._last_event_id
        retry = self._retry
        new = _new_event
        cls = SSEEvent
        for line in lines:
            if not line:
                # Blank line: dispatch the event.
                last_event_id = id_buffer
                if data_buf:
                    data = "\n".join(data_buf)
                    events.append(new(cls, (event_type or "message", data, id_buffer, retry)))
                    data_buf = []
                event_type = ""
                continue
            if line[:6] == "data: ":
                # Fast path for the most common line (slicing beats method calls).
                data_buf.append(line[6:])
                continue
            colon = line.find(":")
            if colon == 0:
                continue  # comment
            if colon > 0:
                name = line[:colon]
                value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
            else:
                name = line
                value = ""
            if name == "data":
                data_buf.append(value)
            elif name == "event":
                event_type = value
            elif name == "id":
                if "\0" not in value:
                    id_buffer = value
            elif name == "retry":
                retry = _parse_retry(value, retry)
            # Any other field name is ignored.
        self._data = data_buf
        self._event_type = event_type
        self._id_buffer = id_buffer
        self._last_event_id = last_event_id
        self._retry = retry
        return events
