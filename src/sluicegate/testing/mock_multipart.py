"""Just enough ``multipart/form-data`` (RFC 7578) for the mock's ``POST /v1/files``.

Starlette's form parser needs the optional ``python-multipart`` package, and would
spool the file to a temporary file anyway; the mock wants the file's bytes once, in
memory. So the body is read whole and each part is sliced out of it: one copy of the
file is kept, the body it came in is dropped when the request ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FormPart", "MultipartError", "boundary_of", "parse_form"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PARAM = re.compile(r'(\w+)\*?="((?:[^"\\]|\\.)*)"|(\w+)=([^;\s]+)')


class MultipartError(ValueError):
    """The body is not the multipart form its Content-Type announced."""


@dataclass(frozen=True, slots=True)
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def boundary_of(content_type: str | None) -> str:
    """The boundary of a ``multipart/form-data`` Content-Type; MultipartError if the
    type is another or has none."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise MultipartError("expected a multipart/form-data body")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise MultipartError("the multipart Content-Type has no boundary")
    return match.group(1)


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw in block.split(b"\r\n"):
        name, sep, value = raw.decode("utf-8", "replace").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def _disposition(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for match in _PARAM.finditer(value):
        if match.group(1):
            params[match.group(1).lower()] = match.group(2).replace('\\"', '"')
        else:
            params[match.group(3).lower()] = match.group(4)
    return params


def parse_form(body: bytes | bytearray, boundary: str) -> list[FormPart]:
    """The parts of ``body``, in order; each part's data is copied out of it once."""
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise MultipartError("the body does not contain its boundary")
    parts: list[FormPart] = []
    position = start + len(delimiter)
    while True:
        if body.startswith(b"--", position):
            return parts  # the closing delimiter
        if not body.startswith(b"\r\n", position):
            raise MultipartError("malformed multipart delimiter line")
        head_start = position + 2
        head_end = body.find(b"\r\n\r\n", head_start)
        if head_end < 0:
            raise MultipartError("a multipart part has no end of headers")
        data_start = head_end + 4
        next_delimiter = body.find(b"\r\n" + delimiter, data_start)
        if next_delimiter < 0:
            raise MultipartError("the multipart body is not terminated")
        headers = _headers(bytes(body[head_start:head_end]))
        params = _disposition(headers.get("content-disposition", ""))
        name = params.get("name")
        if name is None:
            raise MultipartError("a multipart part has no name")
        parts.append(
            FormPart(
                name=name,
                filename=params.get("filename"),
                content_type=headers.get("content-type"),
                data=bytes(memoryview(body)[data_start:next_delimiter]),
            )
        )
        position = next_delimiter + 2 + len(delimiter)
