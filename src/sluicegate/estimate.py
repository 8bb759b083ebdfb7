"""How many tokens a request will be charged before it is sent.

Providers count tokens per minute on what a request *may* use: OpenAI charges the prompt
plus ``max_tokens`` against TPM when the request arrives, Anthropic estimates output
tokens from ``max_tokens`` and corrects at the end. A client limiter that waited for the
actual usage would admit too much, so the charge is estimated before sending and
corrected from ``Response.usage`` afterwards (see the rate-limit stage).

The rule, cheap enough for every request and documented so users can predict it:

- input: one token per 4 characters of message text, rounded up per message, plus
  :data:`TOKENS_PER_MESSAGE` per message (role and separators, OpenAI's documented
  overhead), plus :data:`TOKENS_PER_IMAGE` per image part, plus 4 characters a token over
  each tool's name, description and JSON parameters;
- output: ``max_tokens`` when the request sets it, else the configured default
  (:attr:`sluicegate.limits.RateLimits.default_output_tokens`).

Four characters a token is OpenAI's rule of thumb for English; it errs high for plain
words and low for dense code or punctuation. A user with a real tokenizer passes their
own function as ``RateLimits(estimate=...)``; the correction from usage keeps the books
right either way.
"""

from __future__ import annotations

import json
from typing import Final, NamedTuple

from sluicegate.types import ImagePart, Request

__all__ = [
    "CHARS_PER_TOKEN",
    "TOKENS_PER_IMAGE",
    "TOKENS_PER_MESSAGE",
    "TokenEstimate",
    "estimate_input_tokens",
    "estimate_tokens",
]

CHARS_PER_TOKEN: Final = 4
TOKENS_PER_MESSAGE: Final = 4
TOKENS_PER_IMAGE: Final = 765
"""What OpenAI bills a 1024x1024 image at high detail: a generous guess for any image."""


class TokenEstimate(NamedTuple):
    """A request's expected token use: prompt and completion."""

    input_tokens: int
    output_tokens: int

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def estimate_input_tokens(request: Request) -> int:
    """Prompt tokens by the rule in the module docstring."""
    total = 0
    for message in request.messages:
        content = message.content
        if type(content) is str:
            total += _tokens(len(content)) + TOKENS_PER_MESSAGE
        else:
            total += TOKENS_PER_MESSAGE + _tokens(len(message.text))
            total += TOKENS_PER_IMAGE * sum(1 for p in content if isinstance(p, ImagePart))
        for call in message.tool_calls:
            total += _tokens(len(call.name) + len(call.arguments))
    for tool in request.params.tools:
        schema = json.dumps(dict(tool.parameters), separators=(",", ":"))
        total += _tokens(len(tool.name) + len(tool.description) + len(schema))
    return total


def estimate_tokens(request: Request, default_output_tokens: int) -> TokenEstimate:
    """Input by :func:`estimate_input_tokens`; output is ``max_tokens`` or the default."""
    max_tokens = request.params.max_tokens
    return TokenEstimate(
        estimate_input_tokens(request),
        max_tokens if max_tokens is not None else default_output_tokens,
    )
