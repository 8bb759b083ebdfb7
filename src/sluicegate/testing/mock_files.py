"""The mock's OpenAI Files store: uploaded files as their bytes, result files as recipes.

An uploaded file is kept once, as the bytes that arrived (a batch that reads it shares
them). A batch's output and error files are never stored: they are made again from the
batch's input each time they are downloaded, streamed in chunks, so collecting 100,000
results costs the mock no more memory than collecting ten.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio.lowlevel

__all__ = ["CHUNK_BYTES", "FILE_TTL_S", "FileStore", "StoredFile", "chunked"]

CHUNK_BYTES = 64 * 1024
"""Bytes per streamed piece of a download."""

FILE_TTL_S = 30 * 24 * 3600
"""Files for batches expire after 30 days by default, as the real API's do."""

Recipe = Callable[[], AsyncIterator[bytes]]
"""Makes a generated file's content again, piece by piece."""


async def chunked(data: bytes) -> AsyncIterator[bytes]:
    """``data`` in pieces of :data:`CHUNK_BYTES`."""
    view = memoryview(data)
    for start in range(0, len(data), CHUNK_BYTES):
        yield bytes(view[start : start + CHUNK_BYTES])
        await anyio.lowlevel.checkpoint()


@dataclass(slots=True, eq=False)
class StoredFile:
    """A file: uploaded (``data``) or generated (``recipe``)."""

    id: str
    filename: str
    purpose: str
    created_at: int
    data: bytes | None = None
    recipe: Recipe | None = None
    size: int | None = None
    """Bytes of a generated file, measured on first need (by generating it once)."""

    def content(self) -> AsyncIterator[bytes]:
        if self.data is not None:
            return chunked(self.data)
        assert self.recipe is not None
        return self.recipe()

    async def measured_size(self) -> int:
        if self.data is not None:
            return len(self.data)
        if self.size is None:
            total = 0
            async for piece in self.content():
                total += len(piece)
            self.size = total
        return self.size

    async def as_json(self) -> dict[str, Any]:
        """The File object, as ``POST /v1/files`` and ``GET /v1/files/{id}`` send it."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": await self.measured_size(),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": self.created_at + FILE_TTL_S,
            "status_details": None,
        }


class FileStore:
    """Files by id, oldest first."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    def add(self, stored: StoredFile) -> None:
        self._files[stored.id] = stored

    def get(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def delete(self, file_id: str) -> bool:
        return self._files.pop(file_id, None) is not None

    def page(
        self, purpose: str | None, after: str | None, limit: int, newest_first: bool
    ) -> tuple[list[StoredFile], bool]:
        """Up to ``limit`` files (of ``purpose``, if given) after the one with id
        ``after`` in the chosen order, and whether more follow."""
        files = [f for f in self._files.values() if purpose is None or f.purpose == purpose]
        if newest_first:
            files.reverse()
        if after is not None:
            index = next((i for i, f in enumerate(files) if f.id == after), None)
            files = [] if index is None else files[index + 1 :]
        return files[:limit], len(files) > limit
