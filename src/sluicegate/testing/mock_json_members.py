"""The elements of one array member of a JSON object, decoded one at a time.

An Anthropic Message Batch arrives as one JSON body of up to 256 MB. ``json.loads`` on
it builds every request as Python dicts and lists at once, several times the body's
size; reading the ``requests`` array element by element keeps one request decoded at a
time, which the mock re-encodes compactly and drops.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["MemberMissing", "MemberNotArray", "array_member"]

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


class MemberMissing(ValueError):
    """The object has no member of that name."""


class MemberNotArray(ValueError):
    """The member is there, but its value is not an array."""


def _skip(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _expect(text: str, position: int, char: str) -> int:
    if text.startswith(char, position):
        return position + 1
    raise ValueError(f"expected {char!r} at character {position}")


def array_member(text: str, name: str) -> Iterator[Any]:
    """Each element of the array ``name`` in the JSON object ``text``, decoded as it is
    reached. Raises ValueError (possibly after some elements) if ``text`` is not a JSON
    object, if the member is not an array or appears twice, or if anything after it is
    malformed; MemberMissing if there is no such member, MemberNotArray if its value is
    not an array."""
    position = _expect(text, _skip(text, 0), "{")
    found = False
    position = _skip(text, position)
    if text.startswith("}", position):
        raise MemberMissing(name)
    while True:
        key, position = _DECODER.raw_decode(text, position)
        if not isinstance(key, str):
            raise ValueError(f"expected a member name at character {position}")
        position = _expect(text, _skip(text, position), ":")
        position = _skip(text, position)
        if key == name:
            if found:
                raise ValueError(f"{name!r} appears twice")
            found = True
            if not text.startswith("[", position):
                raise MemberNotArray(name)
            position = _skip(text, position + 1)
            if text.startswith("]", position):
                position += 1
            else:
                while True:
                    element, position = _DECODER.raw_decode(text, position)
                    yield element
                    position = _skip(text, position)
                    if text.startswith(",", position):
                        position = _skip(text, position + 1)
                        continue
                    position = _expect(text, position, "]")
                    break
        else:
            _, position = _DECODER.raw_decode(text, position)
        position = _skip(text, position)
        if text.startswith(",", position):
            position = _skip(text, position + 1)
            continue
        position = _expect(text, position, "}")
        break
    if _skip(text, position) != len(text):
        raise ValueError(f"extra data at character {position}")
    if not found:
        raise MemberMissing(name)
