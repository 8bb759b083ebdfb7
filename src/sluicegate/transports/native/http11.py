"""HTTP/1.1 on the wire: a request's bytes, and a response read by httptools' C parser.

Only what an API client needs: requests with a body and a ``content-length`` (never
chunked, never ``Expect: 100-continue``), responses with a ``content-length``, chunked, or
read to the connection's close; gzip and deflate bodies inflated if a server sends them
unasked (sluicegate never asks: answers are small and inflating costs CPU on both ends).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import httptools

from sluicegate.transports.base import TransportFailure

__all__ = ["Origin", "RequestLine", "ResponseReader", "request_bytes", "request_line"]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

Origin = tuple[str, str, int]
"""``(scheme, host, port)``: what a pooled connection can be reused for."""


class RequestLine:
    """What a URL gives every request to it, worked out once per URL: the origin, and
    the bytes of the request line's target and the ``host`` header."""

    __slots__ = ("host_header", "origin", "target")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise TransportFailure("request", f"unsupported URL scheme {parts.scheme!r}")
        host = parts.hostname
        if not host:
            raise TransportFailure("request", "the URL names no host")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            raise TransportFailure("request", "the URL's port is not a number") from None
        self.origin: Origin = (scheme, host, port)
        shown = f"[{host}]" if ":" in host else host
        if port != _DEFAULT_PORTS[scheme]:
            shown += f":{port}"
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        self.target = target
        self.host_header = shown


_cache: dict[str, RequestLine] = {}
_MAX_URLS: Final = 256
"""Parsed URLs kept: a provider has a few endpoints, so this only bounds a caller who
builds a new URL per request."""


def request_line(url: str) -> RequestLine:
    """The parsed URL, from a small cache (parsing costs more than the lookup)."""
    found = _cache.get(url)
    if found is None:
        if len(_cache) >= _MAX_URLS:
            _cache.clear()
        found = _cache[url] = RequestLine(url)
    return found


def request_bytes(method: str, line: RequestLine, headers: Mapping[str, str], body: bytes) -> bytes:
    """The whole request, head and body, in one buffer (one write). A header name or
    value with a line break would start another header, or a second request: refused."""
    head = [f"{method} {line.target} HTTP/1.1\r\nhost: {line.host_header}\r\n"]
    agent = False
    for name, value in headers.items():
        head.append(f"{name}: {value}\r\n")
        if not agent and name.lower() == "user-agent":
            agent = True
    if not agent:
        head.append("user-agent: sluicegate\r\n")
    head.append(f"content-length: {len(body)}\r\n\r\n")
    text = "".join(head)
    breaks = len(head) + 2  # one per line: the request line's and the blank one's too
    if text.count("\n") != breaks or text.count("\r") != breaks:
        raise TransportFailure("request", "a header name or value contains a line break")
    try:
        return text.encode("latin-1") + body
    except UnicodeEncodeError:
        raise TransportFailure("request", "a header is not Latin-1 text") from None


class ResponseReader:
    """httptools' callbacks for the responses of one connection, one after another.

    ``feed`` hands it bytes; it collects the status and headers, then body pieces into
    ``pieces`` (the reader of the body empties it), and says when the message is complete.
    """

    __slots__ = (
        "_failure",
        "_headers",
        "_inflate",
        "complete",
        "headers",
        "headers_done",
        "parser",
        "pieces",
        "reusable",
        "status",
        "until_close",
    )

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.reusable = True
        self._start()

    def _start(self) -> None:
        self._headers: dict[str, str] = {}
        self._failure: TransportFailure | None = None
        self._inflate: Any = None
        self.headers: Mapping[str, str] = self._headers
        self.headers_done = False
        self.complete = False
        self.until_close = False
        self.status = 0
        self.pieces: list[bytes] = []

    def next_response(self) -> None:
        """Get ready for the connection's next response."""
        self._start()

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete or self.headers_done:  # bytes after the answer: not ours to read
            self.reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        found = self._headers.get(key)
        self._headers[key] = text if found is None else f"{found}, {text}"

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True
        headers = self._headers
        if "content-length" not in headers and "chunked" not in headers.get(
            "transfer-encoding", ""
        ):
            self.until_close = True  # the body ends when the server closes
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding == "gzip":
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj()
        elif encoding not in ("identity", ""):
            self._fail(f"unsupported content-encoding {encoding!r}")

    def on_body(self, body: bytes) -> None:
        if self._inflate is not None:
            try:
                body = self._inflate.decompress(body)
            except zlib.error as exc:
                self._fail(f"the body does not inflate: {exc}")
        if body:
            self.pieces.append(body)

    def _fail(self, detail: str) -> None:
        """Stop parsing: httptools wraps what a callback raises, so the failure is kept
        here for :meth:`feed` to raise."""
        self.reusable = False
        self._failure = TransportFailure("read", detail)
        raise self._failure

    def on_message_complete(self) -> None:
        self.complete = True
        if not self.parser.should_keep_alive():
            self.reusable = False

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Parse ``data``; a malformed response is a ``TransportFailure("read")``."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._failure is not None:
                raise self._failure from None
            self.reusable = False
            raise TransportFailure("read", f"malformed response: {exc}") from None

    def end_of_stream(self) -> None:
        """The server closed the connection: the end of a body read to the close, else a
        cut answer."""
        self.reusable = False
        if self.headers_done and self.until_close and not self.complete:
            if self._inflate is not None:
                rest = self._inflate.flush()
                if rest:
                    self.pieces.append(rest)
            self.complete = True
            return
        if not self.complete:
            where = "the body ended" if self.headers_done else "an answer arrived"
            raise TransportFailure("read", f"the server closed the connection before {where}")
