"""Typed reads of a decoded JSON answer, for every provider codec.

A codec parses a body once (``json.loads``) and then reads the fields it needs through
these functions, each a type test or two, so a malformed answer is caught where its field
is read and reported by path (``choices[0].message.content``, ``usage.prompt_tokens``)
instead of surfacing later as a ``TypeError`` in the stream builder or a negative cost in
the ledger. They raise :class:`MalformedField`, which the codec turns into the typed
:class:`~sluicegate.errors.ResponseFormatError` naming its provider and model, at one
``except`` per decoder.

Token counts are the one value sluicegate computes with (cost, budgets, the ledger), so
they are held to a contract: an integer from 0 to :data:`MAX_TOKEN_COUNT` (2**53, beyond
which a float cost could no longer count single tokens); an integer-valued float (``12.0``,
which some servers write) is taken as that integer; ``null`` or an absent field is 0, as
the providers document. Anything else (negative, fractional, ``1e999`` which ``json``
reads as infinity, a string, a bool) is malformed and never priced.
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Mapping
from typing import Any, Final

import orjson

__all__ = [
    "MAX_TOKEN_COUNT",
    "UNEXPECTED_SHAPE",
    "MalformedField",
    "array",
    "describe",
    "index",
    "mapping",
    "parse_json",
    "text",
    "token_count",
]

MAX_TOKEN_COUNT: Final = 2**53
"""The largest token count a codec accepts (9,007,199,254,740,992)."""

UNEXPECTED_SHAPE: Final = (
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ValueError,
    RecursionError,
)
"""What a decoder catches at its boundary, after :class:`MalformedField`: a shape its
checks miss is still a typed malformed-answer error, never a traceback from the codec."""

_loads = json.loads
_fast_loads = orjson.loads
_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlevel = 3
_JSON_TYPES: Final[Mapping[type, str]] = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


class MalformedField(ValueError):
    """A field of a decoded answer has the wrong type or value; ``path`` says which."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def describe(value: object) -> str:
    """A short, bounded description of a JSON value for an error message (``reprlib``
    keeps it to a few dozen characters and three levels, however deep the value is)."""
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{kind} {_repr.repr(value)}" if kind != "null" else "null"


def _wrong(path: str, expected: str, value: object) -> MalformedField:
    return MalformedField(path, f"expected {expected}, got {describe(value)}")


def token_count(value: object, path: str) -> int:
    """A token count: an int in 0..2**53 (an integer-valued float is taken as one;
    ``None`` is 0)."""
    if type(value) is int:  # the usual case: one type test and a range test
        if 0 <= value <= MAX_TOKEN_COUNT:
            return value
    elif value is None:
        return 0
    elif type(value) is float and value.is_integer() and 0 <= value <= MAX_TOKEN_COUNT:
        return int(value)
    raise _wrong(path, "a token count (an integer from 0 to 2**53)", value)


def index(value: object, path: str) -> int:
    """A position in a list the provider numbers (a tool call's ``index``)."""
    if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    raise _wrong(path, "an index (an integer from 0 to 2**53)", value)


def text(value: object, path: str) -> str | None:
    """A string field that may be ``null`` or absent."""
    if value is None or type(value) is str:
        return value
    raise _wrong(path, "a string or null", value)


def mapping(value: object, path: str) -> dict[str, Any] | None:
    """An object field that may be ``null`` or absent."""
    if value is None or type(value) is dict:
        return value
    raise _wrong(path, "an object or null", value)


def array(value: object, path: str) -> list[Any] | None:
    """An array field that may be ``null`` or absent."""
    if value is None or type(value) is list:
        return value
    raise _wrong(path, "an array or null", value)


def parse_json(data: bytes | str, path: str) -> Any:
    """``json.loads(data)``, with every way it can fail (not JSON, not UTF-8, nested
    deeper than the parser recurses, a number with too many digits) as a MalformedField
    saying which.

    orjson parses first: a third of json's CPU on an answer, and a stream parses one
    document per event. What it refuses (``NaN``, an integer past 64 bits, a lone
    surrogate escape, nesting past 1,024) is parsed again by json, so the values, and
    the errors, are json's own."""
    try:
        if not isinstance(data, str):
            # Strict UTF-8, as JSON over HTTP must be: json.loads(bytes) would also take
            # UTF-16 and decode with "surrogatepass", letting the invalid bytes of an
            # encoded surrogate through as a str no UTF-8 writer can write back out.
            data = data.decode("utf-8")
            if data.startswith("\ufeff"):  # a BOM, which json.loads(bytes) tolerated
                data = data[1:]
        try:
            return _fast_loads(data)
        except ValueError:  # (orjson.JSONDecodeError)
            return _loads(data)
    except RecursionError:
        raise MalformedField(path, "JSON nested too deeply to parse") from None
    except UnicodeDecodeError as exc:
        raise MalformedField(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # json.JSONDecodeError, or int() refusing 5,000 digits
        raise MalformedField(path, f"not JSON ({exc})") from None
