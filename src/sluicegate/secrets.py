"""API keys as values that cannot leak by accident.

A :class:`Secret` prints as ``Secret('sk-…***')`` and compares by value; the key itself is
read only through :meth:`Secret.reveal`, which only provider codecs call while building
headers. Every key that passes through a Secret is also remembered (by value, in this
process) so that :func:`scrub` can blank it out of any text that is about to be logged or
put in an exception message, even text a caller or a server produced.
"""

from __future__ import annotations

import re
from typing import Final

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


def _remember(value: str) -> None:
    global _known_pattern
    if len(value) >= 6 and value not in _known:
        _known.add(value)
        ordered = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def scrub(text: str) -> str:
    """Blank out every known key and anything shaped like a provider key."""
    if _known_pattern is not None:
        text = _known_pattern.sub(REDACTED, text)
    return _KEY_SHAPES.sub(REDACTED, text)
