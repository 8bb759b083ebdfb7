"""The transport interface: send one HTTP message, get status, headers and body back.

It is deliberately smaller than any HTTP client's API so that a transport over httpx2,
aiohttp, a user's own httpx client or an in-memory ASGI app is a few dozen lines, and so
the chain above never depends on which one is underneath. Transport failures are raised as
:class:`TransportFailure` (connect, read, cut body); the terminal stage of the chain turns
them into typed provider errors that name the provider and model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Protocol, runtime_checkable

MAX_RESPONSE_BYTES = 32 * 2**20
"""The default bound on a non-streamed answer's body (32 MiB): hundreds of times the
largest real chat completion, small enough that a server sending an endless or a 1 GB
body cannot take the process's memory with it."""


@dataclass(frozen=True, slots=True)
class RequestTimeouts:
    """One request's own transport timers, replacing the transport's defaults.

    ``read`` has the meaning of ``TransportOptions.read_timeout`` (the first byte, then
    every gap between bytes), ``connect`` that of ``connect_timeout``; None in either keeps
    the transport's default for that timer.

    ``total`` is the time left before the request's deadline, in seconds from the call to
    ``send``/``open_stream``: the whole exchange, a streamed body read to its end included,
    must be over by then, and past it the transport raises ``TransportFailure("timeout")``
    (the dispatcher sees that the deadline passed and words the error so). The dispatcher
    sets it for every attempt of a request with a deadline, so no cancel scope per
    request is needed above the transport. A transport honours it and says so with
    ``enforces_total = True``; the client wraps one that does not
    (:class:`~sluicegate.transports.total.TotalBound`).
    """

    connect: float | None = None
    read: float | None = None
    total: float | None = None

    @property
    def sets_timers(self) -> bool:
        """Whether ``connect`` or ``read`` replaces a transport default (a request with
        only a ``total`` keeps the transport's connect and read timers)."""
        return self.connect is not None or self.read is not None


@dataclass(frozen=True, slots=True, init=False)
class HttpRequest:
    """What a provider codec produces: everything needed to send, nothing more.

    ``timeouts`` is left None by codecs; the terminal stage sets it for a request that
    asked for its own timers (``client.chat(..., timeout=...)``) or has a deadline (its
    ``total``). A transport should apply it when set; one that ignores ``connect`` and
    ``read`` still works, with its own timers for every request. ``headers`` is read,
    never changed: a codec may return one mapping for every request. Its repr names the
    headers without their values, since one carries the key.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    timeouts: RequestTimeouts | None = None

    def __init__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        timeouts: RequestTimeouts | None = None,
    ) -> None:
        # The generated __init__ of a frozen dataclass, written out to fill the slots
        # directly: two are built per attempt (the codec's, then the dispatcher's with
        # the key and Idempotency-Key added), and this costs 40 % less than one
        # object.__setattr__ per field.
        _set_method(self, method)
        _set_url(self, url)
        _set_headers(self, headers)
        _set_body(self, body)
        _set_timeouts(self, timeouts)

    def __repr__(self) -> str:
        # Header names only: the dispatcher puts the API key in one of the values.
        return (
            f"HttpRequest({self.method} {self.url}, headers={sorted(self.headers)}, "
            f"{len(self.body)} bytes)"
        )


_set_method, _set_url, _set_headers, _set_body, _set_timeouts = (
    getattr(HttpRequest, name).__set__ for name in ("method", "url", "headers", "body", "timeouts")
)
if tuple(f.name for f in fields(HttpRequest)) != ("method", "url", "headers", "body", "timeouts"):
    raise TypeError("HttpRequest.__init__ must set every field")  # a field added above


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A fully read response. Header names are lower case."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What every transport is built with, once per client.

    ``read_timeout`` bounds the wait for the first byte of an answer and every gap between
    bytes after it; transports enforce it with their own timers, set up once, rather than
    with a cancel scope per request. ``None`` waits forever.

    ``max_response_bytes`` bounds a non-streamed body (after decompression): it is read
    in chunks and, once past the bound, the connection is closed and
    :func:`too_large` raised, so memory never holds more than the bound. A streamed body
    is not bounded here (the request's deadline ends it; the SSE parser bounds each
    event). ``None`` reads any size.
    """

    concurrency: int = 64
    connect_timeout: float = 10.0
    read_timeout: float | None = 120.0
    max_response_bytes: int | None = MAX_RESPONSE_BYTES


@dataclass(slots=True)
class TransportFailure(Exception):
    """The HTTP exchange failed below the protocol (``phase``: connect, read, timeout)."""

    phase: str
    detail: str = field(default="")

    def __str__(self) -> str:
        return f"{self.phase} failed: {self.detail}" if self.detail else f"{self.phase} failed"


TOO_LARGE = "too_large"
"""The ``TransportFailure.phase`` of an answer past ``max_response_bytes``."""


def too_large(limit: int) -> TransportFailure:
    """The failure of a body that passed ``limit`` bytes (the dispatcher turns it into
    :class:`~sluicegate.errors.ResponseTooLargeError`)."""
    return TransportFailure(TOO_LARGE, f"the answer is larger than {limit:,} bytes")


def declared_too_large(headers: Mapping[str, str], limit: int | None) -> bool:
    """Whether the answer's ``Content-Length`` already says it is past ``limit``, so it
    can be refused before a byte of the body is read."""
    if limit is None:
        return False
    length = headers.get("content-length")
    if length is None or not (length.isascii() and length.isdigit()):
        return False
    return len(length) > 18 or int(length) > limit  # (18 digits: int() stays cheap)


class HttpStream(Protocol):
    """A response whose body is read incrementally; always ``aclose()`` it."""

    status: int
    headers: Mapping[str, str]

    def iter_bytes(self) -> AsyncIterator[bytes]: ...

    async def read(self) -> bytes: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """Sends HTTP messages. Built once per client, shared by all requests.

    Timers come from the ``TransportOptions`` the transport was built with; a request's
    ``HttpRequest.timeouts``, when not None, replaces them for that request (a transport
    that cannot do so may ignore ``connect`` and ``read``). A timer that fires is
    ``TransportFailure("timeout")``.

    A transport that bounds a whole exchange by ``timeouts.total`` itself (with its
    library's total timer, say) sets a class attribute ``enforces_total = True``; the
    client gives any other one that bound with cancel scopes around its calls
    (:func:`~sluicegate.transports.total.bounded`), so leaving it out is always safe.
    """

    name: str

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send and read the whole body."""
        ...

    async def open_stream(self, request: HttpRequest) -> HttpStream:
        """Send and return once the status and headers are in; the body streams."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...
