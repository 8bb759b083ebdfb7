"""The items of a mock batch job: stored once as raw JSONL, with one outcome byte each.

A batch of 100,000 requests must not cost the mock 100,000 parsed request bodies, so a
job keeps its input as the bytes it arrived in (an OpenAI input file is shared with the
file store, not copied) plus, per item, a reference to its custom_id, an outcome byte and
two token counts. Answers are made again from the raw line while the results stream out.

Outcomes are decided when the job is created, never drawn again: a hash of the seed,
the provider, the custom_id and how many times that custom_id was submitted before. So
the same run gives the same failures on every machine, and a failed item that is
resubmitted gets a fresh draw (and most likely succeeds).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = ["BatchItems", "Outcome", "iter_jsonl", "job_fails", "unit_draw"]


class Outcome(IntEnum):
    """What happens to one item, if it is processed before the job ends."""

    SUCCEEDED = 0
    FAILED = 1
    """An injected failure: OpenAI 500 ``server_error`` line, Anthropic ``api_error``."""
    EXPIRED = 2
    """An injected expiry: OpenAI ``batch_expired``, Anthropic ``expired``."""
    INVALID = 3
    """The request itself is invalid (what a live call would answer with a 400/404)."""


def unit_draw(*parts: object) -> float:
    """A number in ``[0, 1)`` fixed by ``parts`` (SHA-256, not the salted ``hash()``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def item_outcome(
    seed: int, provider: str, custom_id: str, attempt: int, failure: float, expiry: float
) -> Outcome:
    """The injected outcome of one submission of ``custom_id`` (``attempt`` counts the
    earlier submissions of that id to this provider)."""
    if failure <= 0.0 and expiry <= 0.0:
        return Outcome.SUCCEEDED
    draw = unit_draw(seed, provider, custom_id, attempt)
    if draw < failure:
        return Outcome.FAILED
    if draw < failure + expiry:
        return Outcome.EXPIRED
    return Outcome.SUCCEEDED


def job_fails(seed: int, provider: str, ordinal: int, rate: float) -> bool:
    """Whether the ``ordinal``-th job of ``provider`` fails as a whole."""
    return rate > 0.0 and unit_draw(seed, provider, "job", ordinal) < rate


def iter_jsonl(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """``(line number from 1, line)`` for every line of ``raw`` that is not blank, without
    splitting the whole buffer into a list (which would copy it)."""
    start = 0
    number = 0
    size = len(raw)
    while start < size:
        end = raw.find(b"\n", start)
        if end < 0:
            end = size
        number += 1
        line = raw[start:end]
        if line.strip():
            yield number, line
        start = end + 1


@dataclass(slots=True)
class BatchItems:
    """A job's items: the raw JSONL they are read from again, and what was decided."""

    raw: bytes
    """One JSON value per non-blank line, in item order: an OpenAI input file as
    uploaded, or Anthropic's ``params`` objects re-encoded compactly."""
    custom_ids: list[str] = field(default_factory=list)
    outcomes: bytearray = field(default_factory=bytearray)
    input_tokens: array[int] = field(default_factory=lambda: array("I"))
    output_tokens: array[int] = field(default_factory=lambda: array("I"))

    def add(self, custom_id: str, outcome: Outcome, input_tokens: int, output_tokens: int) -> None:
        self.custom_ids.append(custom_id)
        self.outcomes.append(outcome)
        self.input_tokens.append(input_tokens)
        self.output_tokens.append(output_tokens)

    def __len__(self) -> int:
        return len(self.outcomes)

    def count(self, outcome: Outcome, first: int) -> int:
        """How many of the first ``first`` items have ``outcome``."""
        return self.outcomes.count(outcome, 0, first)

    def tokens_of_succeeded(self, first: int) -> tuple[int, int]:
        """Input and output tokens of the succeeded items among the first ``first``."""
        inputs = outputs = 0
        succeeded = Outcome.SUCCEEDED
        for i in range(min(first, len(self.outcomes))):
            if self.outcomes[i] == succeeded:
                inputs += self.input_tokens[i]
                outputs += self.output_tokens[i]
        return inputs, outputs
