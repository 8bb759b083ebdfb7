"""What the commands print of an answer: its text with every API key blanked out (a server
or a model may repeat the key it was sent), also when the text arrives in pieces, and its
token counts, which a server that reports no usage leaves unknown rather than zero."""

from __future__ import annotations

from typing import Final

from sluicegate.secrets import scrub
from sluicegate.types import Usage

__all__ = ["StreamScrubber", "scrub_answer", "tokens_known", "tokens_text"]

_MAX_HELD: Final = 4096
"""The longest run of key-like characters held back while it streams in. API keys are far
shorter; a longer run (base64, minified code) is let out in parts, keeping :data:`_TAIL`
characters back, once nothing in it is a key."""
_TAIL: Final = 512


def scrub_answer(text: str) -> str:
    """An answer's whole text as it may be printed."""
    return scrub(text)


class StreamScrubber:
    """Scrubs text that arrives in deltas, where a key may be split across two of them
    (``"sk-pro"`` then ``"j-…"``). A key is printable ASCII without whitespace (what an
    HTTP header can carry), so the run of such characters at the end of the text so far
    is held back until something else follows it (a space, a newline, any non-ASCII
    letter) or the stream ends; everything before it is let out scrubbed. No piece of a
    key is printed before the whole key can be recognised, and words appear whole, which
    is how a reader sees them anyway; text without spaces (Chinese, Japanese) is not
    held at all."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    def feed(self, delta: str) -> str:
        """The part of the text so far that can be printed now."""
        text = self._held + delta
        cut = len(text)
        while cut and "!" <= text[cut - 1] <= "~":
            cut -= 1
        if cut == 0 and len(text) > _MAX_HELD:
            # one long run (base64, minified code): with no key in it, a key can only be
            # starting in its last _TAIL characters
            cut = len(text) - _TAIL if scrub(text) == text else len(text)
        self._held = text[cut:]
        return scrub(text[:cut])

    def flush(self) -> str:
        """The rest, at the end of the stream (or when it broke off)."""
        text, self._held = self._held, ""
        return scrub(text)


def tokens_known(usage: Usage) -> bool:
    """Whether the server reported usage: an answer always has input tokens, so counts of
    zero in and zero out mean none were reported (a stream without a usage chunk), the
    same rule the cost stage uses to leave such an answer's cost unknown."""
    return bool(usage.input_tokens or usage.output_tokens)


def tokens_text(usage: Usage, *, short: bool = False) -> str:
    """``"12 in / 34 out tokens"`` (``short``: ``"12/34"``), or unknown as ``"? in / ? out
    tokens"`` (``"?/?"``): never a made-up zero."""
    if tokens_known(usage):
        if short:
            return f"{usage.input_tokens}/{usage.output_tokens}"
        return f"{usage.input_tokens} in / {usage.output_tokens} out tokens"
    return "?/?" if short else "? in / ? out tokens"
