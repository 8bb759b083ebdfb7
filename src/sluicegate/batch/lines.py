"""Bytes as they download → complete lines: what a result file is read through.

Result files are JSON Lines of any size (100,000 results are tens of megabytes); they
are decoded one line at a time as the chunks arrive, so memory holds one chunk and one
partial line, never the file.
"""

from __future__ import annotations

__all__ = ["LineSplitter"]


class LineSplitter:
    """Feed chunks, get the complete lines in them (without their ``\\n``; a ``\\r``
    before it is dropped too); ``close()`` gives a last line that had no newline."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        if not chunk:
            return []
        data = self._pending + chunk if self._pending else chunk
        end = data.rfind(b"\n")
        if end < 0:
            self._pending = data
            return []
        self._pending = data[end + 1 :]
        return [_strip(line) for line in data[:end].split(b"\n")]

    def close(self) -> list[bytes]:
        rest, self._pending = self._pending, b""
        return [_strip(rest)] if rest.strip() else []


def _strip(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line
