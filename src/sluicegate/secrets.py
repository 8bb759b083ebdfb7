"""API keys as values that cannot leak by accident.

A :class:`Secret` prints as ``Secret('sk-…***')`` and compares by value; the key itself is
read only through :meth:`Secret.reveal`, which only provider codecs call while building
headers. Every key that passes through a Secret is also remembered (by value, in this
process) so that :func:`scrub` can blank it out of any text that is about to be logged or
put in an exception message, even text a caller or a server produced.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

_known: set[str] = set()
_known_pattern: re.Pattern[str] | None = None

# Shapes of common provider keys, for keys that never passed through a Secret (a caller
# logging an environment variable by mistake). Deliberately narrow to avoid eating text.
_KEY_SHAPES: Final = re.compile(
    r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,}|gsk_[A-Za-z0-9]{20,})"
)
REDACTED: Final = "***"


class Secret:
    """An API key. ``repr``/``str`` never show it; ``reveal()`` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("a Secret needs a non-empty string")
        self._value = value
        _remember(value)

    def reveal(self) -> str:
        """The key itself: only for building the request that carries it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{self._value[:3]}…{REDACTED}')" if len(self._value) > 8 else "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


def encoded_forms(value: str) -> tuple[str, ...]:
    """The key as a server may echo it back: itself, percent-encoded (a query string or a
    redirect's ``Location``), and base64 (a ``Basic`` credential, a JSON blob)."""
    forms = [value, quote(value, safe=""), base64.b64encode(value.encode()).decode("ascii")]
    return tuple(dict.fromkeys(forms))


def _remember(value: str) -> None:
    global _known_pattern
    if len(value) >= 6 and value not in _known:
        _known.update(encoded_forms(value))
        ordered = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def scrub(text: str) -> str:
    """Blank out every known key and anything shaped like a provider key."""
    if _known_pattern is not None:
        text = _known_pattern.sub(REDACTED, text)
    return _KEY_SHAPES.sub(REDACTED, text)


def holds_secret(text: str) -> bool:
    """Whether :func:`scrub` would change ``text``, for the hot path's check of the headers
    a successful answer keeps: substring tests first (a known key, or the literal each key
    shape starts with), the shape regex only when one of those literals is there."""
    if any(form in text for form in _known):
        return True
    has_prefix = "sk-" in text or "AIza" in text or "gsk_" in text
    return has_prefix and _KEY_SHAPES.search(text) is not None


def scrub_value(value: object) -> object:
    """``value`` with every known key blanked out of its strings, however deep in mappings,
    lists and tuples they sit (a mapping comes back as a dict copy); other values (numbers,
    exceptions, which scrub themselves) come back as they are. For error paths and state
    about to be pickled: it costs a regex per string.
    """
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return scrub_mapping(value)
    if isinstance(value, list | tuple):
        items = [scrub_value(v) for v in value]
        if isinstance(value, list):
            return items
        make: Any = type(value)
        return make(*items) if hasattr(value, "_fields") else make(items)
    if isinstance(value, bytes | bytearray):
        text = value.decode("utf-8", "replace")
        scrubbed = scrub(text)
        return value if scrubbed == text else scrubbed.encode()
    return value


def scrub_mapping(value: Mapping[Any, Any]) -> dict[Any, Any]:
    """A copy of ``value`` with keys blanked out of its names and values (see scrub_value)."""
    return {scrub_value(k): scrub_value(v) for k, v in value.items()}
