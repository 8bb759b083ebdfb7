"""The HTTP calls a batch API makes (create, retrieve, cancel, list, download), with the
retries they need and the provider's own error decoding.

Batch calls do not go through the middleware chain: they are not chat requests (no
tokens to count, no cost, no idempotency key per item), and the chain's stages would
misread them. They get what they do need here: the provider's key, typed errors from the
provider's codec (``AuthenticationError`` for a 401, ``RateLimitedError`` for a 429...),
and retries with full-jitter backoff and ``Retry-After`` on the client's clock.

Which calls are retried
    A call that only reads (retrieve, list, download) or that may be repeated without
    harm (uploading a file, cancelling) is retried on any retryable failure. Creating a
    job is not idempotent (a second create would be a second job, paid twice): it is
    retried only when the server surely did not act on it (connection refused, 429, 503,
    529); an ambiguous failure (a timeout after sending) is raised, and the job, if one
    was created, is found by ``sluicegate batch list``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import anyio

from sluicegate.batch.api import BatchBinding, BatchOutcome
from sluicegate.batch.lines import LineSplitter
from sluicegate.errors import ProviderError, RequestTimeoutError, TransportError
from sluicegate.logs import get_logger
from sluicegate.retry.backoff import Backoff
from sluicegate.transports.base import HttpRequest, HttpResponse, HttpStream, TransportFailure
from sluicegate.types import Request

__all__ = ["BatchHttp", "LineResults", "dumps", "loads"]

dumps: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
loads = json.loads

_SURELY_NOT_DONE = frozenset({429, 503, 529})
"""Statuses after which a create was surely not carried out (the server refused it)."""


class BatchHttp:
    """Sends one provider's batch calls. Every call carries ``headers`` (the API's own,
    such as a version header) and the provider's key, written here as its spec's
    ``credential_header`` says (none for a keyless provider): as for chat requests, where
    the dispatcher writes it, a batch API never writes the key itself."""

    def __init__(
        self,
        binding: BatchBinding,
        headers: Mapping[str, str],
        *,
        attempts: int = 5,
        backoff: Backoff | None = None,
    ) -> None:
        self._bound = binding.bound
        self._clock = binding.clock
        self._rng = binding.rng
        self._headers = {**headers, **self._bound.credential_headers()}
        self._attempts = attempts
        self._backoff = backoff or Backoff(0.5, 8.0)

    @property
    def provider(self) -> str:
        return self._bound.name

    def pseudo_request(self, what: str) -> Request:
        """The request a control call's errors are decoded against: its "model" names
        what was called (``openai/batches``), so messages read ``openai/batches: HTTP 404
        ...``."""
        return Request(model=f"{self._bound.name}/{what}", messages=())

    async def call(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        what: str,
        replay_safe: bool = True,
    ) -> HttpResponse:
        """Send, retry what may be retried, and return a 2xx answer (or raise the typed
        error of the last attempt)."""
        request = HttpRequest(method, url, {**self._headers, **(headers or {})}, body)
        for attempt in range(1, self._attempts + 1):
            last = attempt == self._attempts
            fatal = False
            try:
                response = await self._bound.transport.send(request)
            except TransportFailure as failure:
                error = self.transport_error(failure, what)
                fatal = last or not (replay_safe or failure.phase == "connect")
            else:
                if 200 <= response.status < 300:
                    return response
                error = self._bound.codec.decode_error(self.pseudo_request(what), response)
                surely_not_done = response.status in _SURELY_NOT_DONE
                if last or not error.retryable or not (replay_safe or surely_not_done):
                    raise error
            if fatal:
                raise error  # outside the except: no __context__ that may quote the server
            await self._pause(attempt, error, what)
        raise AssertionError("unreachable")  # pragma: no cover

    async def open(self, url: str, *, what: str) -> HttpStream:
        """GET ``url`` and return once its headers are in; the body streams. Retried like
        a read until the answer starts."""
        request = HttpRequest("GET", url, self._headers)
        for attempt in range(1, self._attempts + 1):
            fatal = False
            try:
                stream = await self._bound.transport.open_stream(request)
            except TransportFailure as failure:
                error = self.transport_error(failure, what)
                fatal = attempt == self._attempts
            else:
                if 200 <= stream.status < 300:
                    return stream
                try:
                    body = await stream.read()
                finally:
                    await stream.aclose()
                error = self._bound.codec.decode_error(
                    self.pseudo_request(what), HttpResponse(stream.status, stream.headers, body)
                )
                if attempt == self._attempts or not error.retryable:
                    raise error
            if fatal:
                raise error  # outside the except, as in call()
            await self._pause(attempt, error, what)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pause(self, attempt: int, error: ProviderError, what: str) -> None:
        delay = error.retry_after
        if delay is None:
            delay = self._backoff.delay(attempt, self._rng)
        get_logger().info(
            "batch.call_retry",
            provider=self._bound.name,
            call=what,
            attempt=attempt,
            error=type(error).__name__,
            status=error.status,
            wait_s=round(delay, 3),
        )
        await self._clock.sleep(delay)

    def transport_error(self, failure: TransportFailure, what: str) -> ProviderError:
        """The typed error for a call that failed below HTTP."""
        model = what
        if failure.phase == "timeout":
            return RequestTimeoutError(
                f"timed out ({failure.detail})",
                provider=self._bound.name,
                model=model,
                retryable=True,
            )
        return TransportError(str(failure), provider=self._bound.name, model=model, retryable=True)


LineDecoder = Callable[[bytes], BatchOutcome | None]


class LineResults:
    """A :class:`~sluicegate.batch.api.ResultStream` over JSONL files downloaded one after
    the other (OpenAI: the output file, then the error file; Anthropic: one results file),
    each line turned into an outcome by ``decode`` (None: a line that names no item, which
    is logged and skipped, so its item ends up "missing" rather than misattributed).

    Nothing is read before the block is entered; leaving it closes the download in
    progress. One chunk and one partial line are held at a time.
    """

    def __init__(self, http: BatchHttp, urls: Sequence[str], decode: LineDecoder, what: str):
        self._http = http
        self._urls = list(urls)
        self._decode = decode
        self._what = what
        self._stream: HttpStream | None = None
        self._chunks: Any = None
        self._splitter = LineSplitter()
        self._lines: list[bytes] = []
        self._next_line = 0
        self.skipped = 0
        """Lines that could not be read as a result (logged once each)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close_current()
        self._urls = []

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BatchOutcome:
        while True:
            if self._next_line < len(self._lines):
                raw = self._lines[self._next_line]
                self._next_line += 1
                if not raw.strip():
                    continue
                outcome = self._decode(raw)
                if outcome is None:
                    self.skipped += 1
                    get_logger().warning(
                        "batch.result_line_unreadable",
                        provider=self._http.provider,
                        line=raw[:200].decode("utf-8", "replace"),
                    )
                    continue
                return outcome
            self._lines, self._next_line = await self._more_lines(), 0
            if not self._lines and self._stream is None and not self._urls:
                raise StopAsyncIteration

    async def _more_lines(self) -> list[bytes]:
        if self._stream is None:
            if not self._urls:
                return []
            url = self._urls.pop(0)
            self._stream = await self._http.open(url, what=self._what)
            self._chunks = aiter(self._stream.iter_bytes())
            self._splitter = LineSplitter()
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            lines = self._splitter.close()
            await self._close_current()
            return lines
        except TransportFailure as failure:
            error = self._http.transport_error(failure, self._what)
        else:
            return self._splitter.feed(chunk)
        await self._close_current()
        raise error  # outside the except, as in BatchHttp.call()

    async def _close_current(self) -> None:
        stream, chunks = self._stream, self._chunks
        self._stream = self._chunks = None
        if stream is None:
            return
        with anyio.CancelScope(shield=True):
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
            await stream.aclose()
