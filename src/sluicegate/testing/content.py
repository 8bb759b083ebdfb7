"""Deterministic answers and token counts for the mock server.

The mock must answer the same question the same way on every run, on every machine and
under every Python version, so tests can assert on text and usage and benchmarks compare
like with like. Nothing here uses Python's salted ``hash()`` or the ``random`` module:
the seed is a SHA-256 digest and the pseudo-random stream is SplitMix64, both fixed forever.

Token rule (used for every usage count the mock reports)
    A token is a run of word characters (``\\w+``) or one character that is neither a word
    character nor whitespace (a punctuation mark, a symbol). Whitespace is free.
    ``count_tokens("Hello, world!") == 4``.

Input tokens
    ``count_tokens`` over the text of every message (the system prompt counts as one
    message), plus ``MESSAGE_OVERHEAD_TOKENS`` per message, the way real chat formats spend
    a few tokens on each message's role and separators. Images, tool definitions and other
    non-text parts are not counted.

Answers
    ``"Mock answer to: <first ECHO_WORDS words of the prompt>."`` followed by sentences of
    pseudo-random words. The seed is ``sha256(model + "\\n" + prompt)``, so two mock models
    give different answers to one prompt. The natural length is 16..64 tokens, chosen by
    the seed; ``max_tokens`` cuts it, and then the finish reason is ``"length"``, else
    ``"stop"``. Every piece of the answer is exactly one token under the rule above (words
    carry their leading space), so the output token count is the number of pieces and
    ``count_tokens(answer.text) == answer.output_tokens``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "ECHO_WORDS",
    "MAX_ANSWER_TOKENS",
    "MESSAGE_OVERHEAD_TOKENS",
    "MIN_ANSWER_TOKENS",
    "Answer",
    "FinishReason",
    "answer_tokens",
    "count_input_tokens",
    "count_tokens",
    "generate_answer",
    "text_answer",
]

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
"""The token rule: a run of word characters, or one other non-space character."""

_WORD_PATTERN = re.compile(r"\w+")

MESSAGE_OVERHEAD_TOKENS = 3
"""Tokens added per message (role and separators) to the input count."""

MIN_ANSWER_TOKENS = 16
MAX_ANSWER_TOKENS = 64
"""Bounds of an answer's natural length, in tokens."""

ECHO_WORDS = 5
"""How many words of the prompt the answer's opening sentence repeats."""

_INTRO = ("Mock", " answer", " to", ":")

_VOCABULARY = (
    "alpha", "amber", "anchor", "apple", "arrow", "autumn", "basin", "beacon",
    "birch", "blue", "bridge", "brook", "canyon", "cedar", "cloud", "copper",
    "coral", "delta", "dune", "echo", "ember", "field", "flint", "forest",
    "garden", "glade", "granite", "harbor", "hazel", "island", "ivory", "jade",
    "lake", "lantern", "linen", "maple", "meadow", "mirror", "moss", "north",
    "oak", "ocean", "orchard", "pebble", "pine", "prairie", "quartz", "quiet",
    "rain", "river", "saffron", "shore", "silver", "slate", "spruce", "stone",
    "summit", "thistle", "tide", "timber", "valley", "violet", "willow", "zephyr",
)  # fmt: skip
"""64 plain words: each is one token, and 64 makes the pick a cheap bit mask."""

_MASK64 = (1 << 64) - 1

FinishReason = Literal["stop", "length"]


def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` under the mock's rule (see the module docstring)."""
    return len(TOKEN_PATTERN.findall(text))


def count_input_tokens(message_texts: Iterable[str]) -> int:
    """Input tokens of a request whose messages have these texts (one string per message,
    the system prompt included as a message): tokens plus a fixed overhead per message."""
    return sum(count_tokens(text) + MESSAGE_OVERHEAD_TOKENS for text in message_texts)


@dataclass(frozen=True, slots=True)
class Answer:
    """A generated answer: its pieces (one token each), their concatenation, and why it
    ended."""

    tokens: tuple[str, ...]
    text: str
    finish_reason: FinishReason

    @property
    def output_tokens(self) -> int:
        return len(self.tokens)


class _SplitMix64:
    """SplitMix64: a tiny PRNG whose output is fixed by its definition, unlike ``random``,
    whose algorithms are an implementation detail of CPython."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK64

    def next(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """A number in ``[0, n)``; the modulo bias is irrelevant for n this small."""
        return self.next() % n


def _seed(prompt: str, model: str) -> int:
    digest = hashlib.sha256(f"{model}\n{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _natural_answer(prompt: str, model: str) -> tuple[str, ...]:
    seed = _seed(prompt, model)
    length = MIN_ANSWER_TOKENS + seed % (MAX_ANSWER_TOKENS - MIN_ANSWER_TOKENS + 1)
    words = _WORD_PATTERN.findall(prompt)[:ECHO_WORDS] or ["nothing"]
    tokens = [*_INTRO, *(" " + word for word in words), "."]
    rng = _SplitMix64(seed)
    # Sentences of k words and a full stop. The intro is at most 10 tokens and the answer
    # at least 16, so at least 2 tokens remain; a sentence never leaves exactly 1 token
    # behind, because a lone full stop would follow another one.
    while (remaining := length - len(tokens)) > 0:
        k = min(3 + rng.below(7), remaining - 1)
        if remaining - (k + 1) == 1:
            k += 1
        for i in range(k):
            word = _VOCABULARY[rng.next() & 63]
            tokens.append(" " + (word.capitalize() if i == 0 else word))
        tokens.append(".")
    return tuple(tokens)


@lru_cache(maxsize=4096)
def generate_answer(prompt: str, max_tokens: int | None = None, model: str = "") -> Answer:
    """The mock's answer to ``prompt`` from ``model``, cut to ``max_tokens`` if given.

    Cached, because benchmarks send the same prompts many times and the answer is a pure
    function of its arguments.
    """
    natural = _natural_answer(prompt, model)
    if max_tokens is not None and max_tokens < len(natural):
        tokens = natural[: max(max_tokens, 0)]
        return Answer(tokens, "".join(tokens), "length")
    return Answer(natural, "".join(natural), "stop")


_PIECE_PATTERN = re.compile(r"\s*(?:\w+|[^\w\s])")
"""One token with the whitespace before it: a piece of a given text."""


def text_answer(text: str, max_tokens: int | None = None) -> Answer:
    """An answer of a given text (a structured answer's JSON), in one-token pieces that
    join back to it (whitespace after its last token is dropped), cut to ``max_tokens``."""
    pieces = tuple(_PIECE_PATTERN.findall(text))
    if max_tokens is not None and max_tokens < len(pieces):
        cut = pieces[: max(max_tokens, 0)]
        return Answer(cut, "".join(cut), "length")
    return Answer(pieces, "".join(pieces), "stop")


def answer_tokens(prompt: str, max_tokens: int | None = None, *, model: str = "") -> list[str]:
    """The pieces of the mock's answer, one token each; see :func:`generate_answer`."""
    return list(generate_answer(prompt, max_tokens, model).tokens)
