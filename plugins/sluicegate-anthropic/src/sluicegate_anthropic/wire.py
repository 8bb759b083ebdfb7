"""Pieces of the Anthropic wire format that the plain and the streamed decoder share.

Stop reasons, usage and error objects arrive in the same shapes in a message body, in
stream events and in error answers; reading them in one place keeps the two decoders from
drifting apart (a plain call and a stream must end in the same :class:`Response`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from sluicegate import Usage
from sluicegate.plugins import MAX_TOKEN_COUNT, MalformedField, mapping, token_count

API_VERSION: Final = "2023-06-01"
"""The ``anthropic-version`` header: the API version whose shapes this codec speaks.

It is pinned rather than following the official SDK (2.x sends ``2026-10-21``) because a
version changes what the server accepts: ``2026-10-21`` rejects ``temperature``, ``top_p``
and ``top_k`` with a 400 even at their defaults, while ``2023-06-01`` accepts them, and
sluicegate's requests carry them when the caller sets them. A user can send another
version through ``ProviderSettings(headers={"anthropic-version": ...})``; sampling
parameters are then the caller's to leave out."""

STOP_REASONS: Final[Mapping[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
"""Anthropic ``stop_reason`` -> sluicegate's (OpenAI-style) finish reason, so callers and
fallback rules test one vocabulary. A reason not listed here (``pause_turn``, or one added
later) passes through unchanged; a plain Response keeps the original in ``raw``."""

dumps: Final[Callable[[Any], str]] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":")
).encode
"""JSON as the plugin sends it, live and in batches: compact, non-ASCII text kept as is (a
batch item's ``params`` are then byte for byte the body of the live call)."""

RETRYABLE_STREAM_ERRORS: Final = frozenset(
    {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
)
"""Error types of an ``event: error`` inside a 200 stream that a new attempt may cure."""

NEVER_RETRY_CODES: Final = frozenset(
    {
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
        "linked_organization_spend_limit_reached",
        "linked_organization_billing_unavailable",
        "user_profile_billing_not_authorized",
        "user_profile_not_billable",
        "organization_on_hold",
    }
)
"""``error.details.error_code`` values that no retry can cure. Anthropic reports a spend
limit as a 429 ``rate_limit_error`` with one of these codes: retrying it only burns the
retry budget and delays the failure (the ``insufficient_quota`` lesson, openai-python
#1671)."""


def finish_reason(stop_reason: object) -> str | None:
    """The finish reason for an Anthropic ``stop_reason`` (None while it is unknown)."""
    if not isinstance(stop_reason, str):
        return None
    return STOP_REASONS.get(stop_reason, stop_reason)


def usage_from(data: object, path: str = "usage") -> Usage:
    """Usage from an Anthropic ``usage`` object, every count checked
    (:func:`sluicegate.plugins.token_count`; raises MalformedField).

    Anthropic's ``input_tokens`` counts only the tokens after the last cache breakpoint;
    the prompt's full size, which is what sluicegate calls input, also counts the tokens
    read from and written to the cache. ``cached_tokens`` is the part read from the cache
    (the part billed at the cache-hit price), ``cache_write_tokens`` the part written to
    it (billed above the input price).
    """
    usage = mapping(data, path)
    if not usage:
        return Usage()
    return usage_of(
        token_count(usage.get("input_tokens"), f"{path}.input_tokens"),
        token_count(usage.get("cache_read_input_tokens"), f"{path}.cache_read_input_tokens"),
        token_count(
            usage.get("cache_creation_input_tokens"), f"{path}.cache_creation_input_tokens"
        ),
        token_count(usage.get("output_tokens"), f"{path}.output_tokens"),
        path,
    )


def usage_of(fresh: int, cached: int, written: int, output: int, path: str) -> Usage:
    """The Usage of checked counts; the prompt's parts added up must stay a token count
    too (each part may be up to 2**53, their sum may not)."""
    total = fresh + cached + written
    if total > MAX_TOKEN_COUNT:
        raise MalformedField(
            path, f"input tokens in all ({total}) exceed 2**53, more than any prompt can hold"
        )
    return Usage(
        input_tokens=total,
        output_tokens=output,
        cached_tokens=cached,
        cache_write_tokens=written,
    )


def _scalar(value: object) -> str | None:
    """A field of an error object as text: strings and numbers only (an object or array
    where a message belongs is dropped, not printed at whatever size or depth it has)."""
    if type(value) is str:
        return value or None
    if type(value) is int or type(value) is float:
        return str(value)
    return None


def error_fields(body: object) -> tuple[str | None, str | None, str | None, str | None]:
    """``(message, error type, details.error_code, request id)`` from an error body
    ``{"type": "error", "error": {"type", "message", "details"?}, "request_id"?}``; each is
    None when absent, so a proxy's HTML error page still yields a useful error."""
    if not isinstance(body, Mapping):
        return None, None, None, None
    request_id = body.get("request_id")
    err = body.get("error")
    if not isinstance(err, Mapping):
        return None, None, None, request_id if isinstance(request_id, str) else None
    message = err.get("message")
    error_type = err.get("type")
    details = err.get("details")
    code = details.get("error_code") if isinstance(details, Mapping) else None
    return (
        _scalar(message),
        _scalar(error_type),
        _scalar(code),
        request_id if isinstance(request_id, str) else None,
    )
