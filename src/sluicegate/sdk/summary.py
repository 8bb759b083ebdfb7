"""What an official SDK's HTTP request asks, summarised for the stages of the chain.

The SDK built the request and will parse the answer; sluicegate only needs to know enough
to admit, count and retry it: which kind of call it is (an OpenAI chat completion, an
Anthropic message, anything else), the model, the text of the messages (for the token
estimate the rate limiter and the budget use) and ``max_tokens``. :func:`summarise` reads
that from the method, the URL's path and the JSON body, and never raises: a body it does
not understand makes the request a pass-through one, limited by request count only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sluicegate.types import Message, Params

Kind = Literal["openai", "anthropic", "other"]

PROVIDERS: Mapping[Kind, str] = {
    "openai": "sdk-openai",
    "anthropic": "sdk-anthropic",
    "other": "sdk",
}
"""The provider name the chain sees for each kind (the codecs in :mod:`.codec`)."""

PASS_THROUGH_MODEL = "sdk/http"
"""The model every pass-through request is counted under (``Limit`` scopes name it)."""

_ROLES = frozenset(("system", "user", "assistant", "tool"))
_NO_PARAMS = Params()


@dataclass(frozen=True, slots=True)
class Summary:
    """One SDK request as the stages see it."""

    kind: Kind
    model: str
    """``"<provider>/<model>"``, e.g. ``"sdk-openai/gpt-4o-mini"``."""
    messages: tuple[Message, ...] = ()
    params: Params = _NO_PARAMS
    stream: bool = False
    """The SDK asked for a stream: its bytes pass through as they come, its usage read."""


_OTHER = Summary("other", PASS_THROUGH_MODEL)


def kind_of(method: str, path: str) -> Kind:
    """A POST to ``.../chat/completions`` is an OpenAI chat call, to ``.../messages`` an
    Anthropic one (not ``.../messages/batches`` or ``.../messages/count_tokens``)."""
    if method.upper() != "POST":
        return "other"
    path = path.rstrip("/")
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/messages"):
        return "anthropic"
    return "other"


def summarise(method: str, path: str, body: bytes) -> Summary:
    """The :class:`Summary` of one request; never raises (see the module docstring)."""
    kind = kind_of(method, path)
    if kind == "other":
        return _OTHER
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return _OTHER
    if not isinstance(data, dict):
        return _OTHER
    model = data.get("model")
    if not isinstance(model, str) or not model:
        return _OTHER
    messages: list[Message] = []
    if kind == "anthropic":
        system = _text(data.get("system"))
        if system:
            messages.append(Message(role="system", content=system))
    raw = data.get("messages")
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                role = item.get("role")
                messages.append(
                    Message(
                        role=role if role in _ROLES else "user",
                        content=_text(item.get("content")),
                    )
                )
    limit = data.get("max_completion_tokens", data.get("max_tokens"))
    params = (
        Params(max_tokens=limit)
        if type(limit) is int and 0 < limit < 2**53  # (not a bool, not absurd)
        else _NO_PARAMS
    )
    stream = data.get("stream") is True
    return Summary(kind, f"{PROVIDERS[kind]}/{model}", tuple(messages), params, stream)


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text of its text parts (OpenAI's
    ``{"type": "text", "text": ...}`` and Anthropic's blocks alike); images and tool
    blocks count nothing here."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""
