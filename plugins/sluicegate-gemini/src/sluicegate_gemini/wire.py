"""What plain answers, stream chunks and error bodies of the Gemini API share: usage,
finish reasons, content blocks and error details.

Finish reasons are given in sluicegate's vocabulary (OpenAI's, as every codec gives them):
``STOP`` is ``stop`` (``tool_calls`` when the answer calls functions), ``MAX_TOKENS`` is
``length``, a content rule's stop (``SAFETY``, ``RECITATION``, ``BLOCKLIST``,
``PROHIBITED_CONTENT``, ``SPII``, ``IMAGE_SAFETY``) is ``content_filter``; others pass
through in lower case. An answer that a content rule stopped with nothing in it, and a
prompt blocked before any answer (``promptFeedback.blockReason``), are a
:class:`~sluicegate.ContentBlockedError`, not an empty answer.
"""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple

from sluicegate import ContentBlockedError, Usage
from sluicegate.plugins import MalformedField, array, mapping, text, token_count

BLOCKING_REASONS: Final = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
_FINISH: Final = {"STOP": "stop", "MAX_TOKENS": "length"}
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_RETRY_INFO: Final = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE: Final = "type.googleapis.com/google.rpc.QuotaFailure"
_ERROR_INFO: Final = "type.googleapis.com/google.rpc.ErrorInfo"
KEY_REASONS: Final = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED"})
"""``ErrorInfo`` reasons that mean the key itself is refused, whatever the status (Google
answers a wrong key with a 400)."""


def finish_reason(raw: str | None, calls: bool) -> str | None:
    """The finish reason in sluicegate's vocabulary (see the module docstring)."""
    if raw is None:
        return None
    if raw == "STOP" and calls:
        return "tool_calls"
    if raw in BLOCKING_REASONS:
        return "content_filter"
    return _FINISH.get(raw, raw.lower())


def usage_from(data: object, path: str = "usageMetadata") -> Usage:
    """Usage from ``usageMetadata``. Gemini counts the thinking (``thoughtsTokenCount``)
    beside the answer (``candidatesTokenCount``) and bills both as output, so the output
    here is their sum and ``reasoning_tokens`` the thinking's part; ``promptTokenCount``
    includes ``cachedContentTokenCount``, which is the cached part."""
    usage = mapping(data, path)
    if not usage:
        return Usage()
    answer = token_count(usage.get("candidatesTokenCount"), f"{path}.candidatesTokenCount")
    thoughts = token_count(usage.get("thoughtsTokenCount"), f"{path}.thoughtsTokenCount")
    return Usage(
        input_tokens=token_count(usage.get("promptTokenCount"), f"{path}.promptTokenCount"),
        output_tokens=answer + thoughts,
        cached_tokens=token_count(
            usage.get("cachedContentTokenCount"), f"{path}.cachedContentTokenCount"
        ),
        reasoning_tokens=thoughts,
    )


def blocked_prompt(data: dict[str, Any], provider: str, model: str) -> ContentBlockedError | None:
    """The error for a prompt Gemini blocked before answering, if it did."""
    feedback = mapping(data.get("promptFeedback"), "promptFeedback")
    if not feedback:
        return None
    reason = text(feedback.get("blockReason"), "promptFeedback.blockReason")
    if not reason:
        return None
    categories = _categories(feedback.get("safetyRatings"), "promptFeedback.safetyRatings")
    return blocked(provider, model, reason, categories, "the prompt was blocked")


def blocked(
    provider: str, model: str, reason: str, categories: tuple[str, ...], what: str
) -> ContentBlockedError:
    named = f" ({', '.join(categories)})" if categories else ""
    return ContentBlockedError(
        f"{what}: {reason}{named}",
        reason=reason,
        categories=categories,
        provider=provider,
        model=model,
        status=200,
        error_type="content_blocked",
    )


def blocked_categories(candidate: dict[str, Any], path: str) -> tuple[str, ...]:
    return _categories(candidate.get("safetyRatings"), f"{path}.safetyRatings")


def _categories(ratings: object, path: str) -> tuple[str, ...]:
    """The categories of the ratings that say ``blocked`` (else those rated above low)."""
    found: list[str] = []
    likely: list[str] = []
    for i, rating in enumerate(array(ratings, path) or ()):
        rating = mapping(rating, f"{path}[{i}]") or {}
        category = text(rating.get("category"), f"{path}[{i}].category")
        if not category:
            continue
        if rating.get("blocked") is True:
            found.append(category)
        elif rating.get("probability") in ("MEDIUM", "HIGH"):
            likely.append(category)
    return tuple(found or likely)


class ErrorDetails(NamedTuple):
    """What an error body ``{"error": {"code", "message", "status", "details": [...]}}``
    says, read by :func:`error_details`."""

    message: str | None
    status: str | None
    """``RESOURCE_EXHAUSTED``, ``INVALID_ARGUMENT``...: the error's ``error_type``."""
    wait: float | None
    """``RetryInfo.retryDelay`` (``"37s"``) in seconds."""
    daily: bool
    """The ``QuotaFailure`` names only per-day quotas: no wait of seconds brings those
    back (Gemini lists every quota of the class it hit, so one per-minute quota among
    them means the minute may be the cause)."""
    reasons: tuple[str, ...]
    """The ``ErrorInfo`` reasons (``API_KEY_INVALID``: a wrong key, answered as a 400)."""


_NOTHING = ErrorDetails(None, None, None, False, ())


def error_details(body: object) -> ErrorDetails:
    """What an error body says (see :class:`ErrorDetails`). Vertex AI wraps the object
    in a list of one, which is read the same."""
    if type(body) is list and len(body) == 1:
        body = body[0]
    if type(body) is not dict or type(body.get("error")) is not dict:
        return _NOTHING
    error = body["error"]
    message = error.get("message") if type(error.get("message")) is str else None
    status = error.get("status") if type(error.get("status")) is str else None
    wait: float | None = None
    quotas: list[str] = []
    reasons: list[str] = []
    details = error.get("details")
    for detail in details if type(details) is list else ():
        if type(detail) is not dict:
            continue
        kind = detail.get("@type")
        if kind == _RETRY_INFO and type(detail.get("retryDelay")) is str:
            match = _DURATION.match(detail["retryDelay"])
            if match:
                wait = float(match.group(1))
        elif kind == _QUOTA_FAILURE and type(detail.get("violations")) is list:
            for violation in detail["violations"]:
                quota = violation.get("quotaId") if type(violation) is dict else None
                if type(quota) is str:
                    quotas.append(quota)
        elif kind == _ERROR_INFO and type(detail.get("reason")) is str:
            reasons.append(detail["reason"])
    daily = bool(quotas) and all("PerDay" in quota for quota in quotas)
    return ErrorDetails(message, status, wait, daily, tuple(reasons))


def expect(condition: bool, path: str, problem: str) -> None:
    if not condition:
        raise MalformedField(path, problem)
