"""What the batch routes need from the mock app, and small HTTP helpers they share.

The batch APIs (:mod:`~sluicegate.testing.mock_openai_batch`,
:mod:`~sluicegate.testing.mock_anthropic_batch`) go through the same gate as completion
requests (counted in the stats, API key, status faults), answer errors the same way, and
read the same clock. The app provides those through :class:`BatchHost`, so the batch
modules do not import the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from sluicegate.testing.faults import ErrorReply

if TYPE_CHECKING:
    from sluicegate.testing.mock_batch_stats import BatchStats
    from sluicegate.testing.mock_config import MockConfig
    from sluicegate.testing.mock_wire import WireFormat

__all__ = ["BatchHost", "BodyTooLarge", "int_param", "read_capped"]


class BatchHost(Protocol):
    """The app, as the batch routes see it."""

    config: MockConfig

    def batch_stats(self) -> BatchStats:
        """The current batch counters (a reset replaces them)."""
        ...

    def now(self) -> float:
        """The mock's clock (``MockConfig.clock``, else the event loop's)."""
        ...

    async def open_request(self, request: Request, wire: WireFormat, label: str) -> str | Response:
        """Count the request under ``label`` (the route, not the path with its ids), check
        the API key and draw a status fault: the request id to answer with, or the
        error response to send instead."""
        ...

    def error(self, reply: ErrorReply, wire: WireFormat, request_id: str) -> Response:
        """An error answer (counted by status)."""
        ...

    def json(self, payload: Any, wire: WireFormat, request_id: str) -> Response:
        """A 200 JSON answer (counted)."""
        ...

    def stream(
        self, pieces: AsyncIterator[bytes], wire: WireFormat, request_id: str, media_type: str
    ) -> Response:
        """A 200 answer streamed from ``pieces`` (counted)."""
        ...


class BodyTooLarge(Exception):
    """The request body is longer than the route accepts."""


async def read_capped(request: Request, cap: int) -> bytearray:
    """The request body, refusing (BodyTooLarge) as soon as it passes ``cap`` bytes, so
    an oversized upload is never held whole. A bytearray, not copied into bytes: the
    caller slices out what it keeps."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge
    buffer = bytearray()
    async for piece in request.stream():
        buffer += piece
        if len(buffer) > cap:
            raise BodyTooLarge
    return buffer


def int_param(value: str | None, default: int, low: int, high: int) -> int | None:
    """A query parameter as an int within ``[low, high]``; None if it is not one."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        return None
    return number if low <= number <= high else None
