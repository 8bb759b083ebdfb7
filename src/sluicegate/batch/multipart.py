"""A ``multipart/form-data`` body, built as bytes: how a file is uploaded (OpenAI's Files
API takes the batch input file this way, as the official SDK sends it).

The transports send a body of bytes, so the whole file is in memory once while it is
uploaded; a job's input is bounded by the provider's limit (200 MB for OpenAI), and the
chunk that is being built is the only one held.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

__all__ = ["multipart_body"]


def multipart_body(
    fields: Mapping[str, str],
    *,
    name: str,
    filename: str,
    content_type: str,
    data: bytes | bytearray,
) -> tuple[bytes, str]:
    """``(body, content-type header)`` for text ``fields`` and one file part; ``data``
    is copied once, into the body."""
    for _ in range(8):
        boundary = "sluicegate-" + secrets.token_hex(16)
        marker = boundary.encode()
        if marker not in data and not any(boundary in v for v in fields.values()):
            break
    else:  # pragma: no cover - 8 collisions of 128 random bits
        raise RuntimeError("could not find a multipart boundary absent from the data")
    parts: list[bytes | bytearray] = []
    for key, value in fields.items():
        parts.append(
            b"--" + marker + b"\r\n"
            b'Content-Disposition: form-data; name="'
            + _quote(key)
            + b'"\r\n\r\n'
            + value.encode()
            + b"\r\n"
        )
    parts.append(
        b"--" + marker + b"\r\n"
        b'Content-Disposition: form-data; name="'
        + _quote(name)
        + b'"; filename="'
        + _quote(filename)
        + b'"\r\nContent-Type: '
        + content_type.encode()
        + b"\r\n\r\n"
    )
    parts += (data, b"\r\n--" + marker + b"--\r\n")
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _quote(value: str) -> bytes:
    """A parameter value inside double quotes (RFC 7578: quotes and line breaks escaped
    as the browsers and httpx do)."""
    return (
        value.replace("\\", "\\\\")
        .replace('"', "%22")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .encode()
    )
