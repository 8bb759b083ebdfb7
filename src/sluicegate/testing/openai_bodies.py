"""OpenAI Chat Completions answers as a :class:`~sluicegate.testing.Answer` carries them.

Written out by hand, a completion body or an SSE stream is twenty lines a test does not
care about; these build the common ones (an answer, its usage, a stream of deltas with
usage at the end) so a scripted test states only what differs::

    ScriptedTransport(Answer.json(200, openai_completion("hi", prompt_tokens=5)))
    ScriptedTransport(Answer(200, {}, openai_sse(["Hel", "lo"])[:1], cut=True))  # cut after "Hel"
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["openai_completion", "openai_sse"]


def openai_completion(
    text: str = "hi", prompt_tokens: int = 3, completion_tokens: int = 1
) -> dict[str, Any]:
    """A ``chat.completion`` body answering ``text``, with that usage (none cached)."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def openai_sse(
    texts: list[str], *, usage: tuple[int, int] = (3, 2), done: bool = True
) -> list[bytes]:
    """A streamed answer as SSE chunks, one per event: a delta per item of ``texts``,
    the ``stop`` finish, the usage chunk (``usage`` is prompt and completion tokens, as
    ``stream_options.include_usage`` sends it) and, unless ``done`` is false, ``[DONE]``.
    Slice the list to cut a stream at a chosen event."""
    chunks = [_event({"choices": [{"index": 0, "delta": {"content": t}}]}) for t in texts]
    chunks.append(_event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    chunks.append(
        _event({"choices": [], "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}})
    )
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return chunks
