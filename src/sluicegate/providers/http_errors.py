"""From an HTTP error answer to the right typed error, the same way for every provider.

Codecs extract the provider's message and error type from the body; this module decides
the error class and whether retrying can help, so that rule lives in one place:
408, 409, 429 and 5xx are worth retrying, 400/401/403/404/422 never are, a 429 that is
really a billing problem (``insufficient_quota``) never is either (openai-python #1671),
and a server's ``x-should-retry`` header overrides the guess.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sluicegate.errors import (
    AuthenticationError,
    ProviderError,
    RateLimitedError,
    ResponseFormatError,
)
from sluicegate.retry_after import parse_retry_after
from sluicegate.secrets import holds_secret, scrub_mapping

NEVER_RETRY_TYPES = frozenset({"insufficient_quota", "billing_error", "invalid_api_key"})
_RETRY_STATUSES = frozenset({408, 409, 429})


_KEPT_PREFIXES = (
    "x-ratelimit-",
    "anthropic-ratelimit-",
    "retry-after",
    "llm_provider-retry-after",
)


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth keeping on a response or error: what a server says about its rate
    limits, including the upstream's wait a LiteLLM relay passes on as
    ``llm_provider-retry-after`` / ``-ms`` (its own ``retry-after`` is often a bare 0), so
    whoever reads ``error.headers`` later sees the wait :mod:`sluicegate.retry_after`
    honoured. Transports give lower-case names.

    A server that echoes the key in one of them (``x-ratelimit-key: sk-…``) gets it
    blanked here, so neither a Response nor an error keeps it; on a successful answer
    that costs one regex search over the few kept values."""
    kept = {k: v for k, v in headers.items() if k.startswith(_KEPT_PREFIXES)}
    if kept and holds_secret("\n".join([*kept, *kept.values()])):
        return scrub_mapping(kept)
    return kept


def is_retryable(status: int, error_type: str | None, headers: Mapping[str, str]) -> bool:
    """Whether an answer with this status and error type may succeed if sent again."""
    should = headers.get("x-should-retry")
    if should == "true":
        return True
    if should == "false":
        return False
    if error_type in NEVER_RETRY_TYPES:
        return False
    return status in _RETRY_STATUSES or status >= 500


def error_for_status(
    *,
    provider: str,
    model: str,
    status: int,
    headers: Mapping[str, str],
    message: str,
    error_type: str | None,
    request_id: str | None = None,
) -> ProviderError:
    """The typed error for a non-2xx answer, with Retry-After kept on it."""
    cls: type[ProviderError] = ProviderError
    if status in (401, 403):
        cls = AuthenticationError
    elif status == 429:
        cls = RateLimitedError
    return cls(
        message,
        provider=provider,
        model=model,
        status=status,
        error_type=error_type,
        retryable=is_retryable(status, error_type, headers),
        retry_after=parse_retry_after(headers, time.time()),
        request_id=request_id or headers.get("x-request-id") or headers.get("request-id"),
        headers=rate_limit_headers(headers),
    )


def excerpt(body: bytes, limit: int = 300) -> str:
    """A short, printable piece of a body for an error message."""
    text = body[:limit].decode("utf-8", "replace")
    return text + ("…" if len(body) > limit else "")


def malformed_answer(
    *, provider: str, model: str, what: str, exc: BaseException, body: bytes, status: int
) -> ResponseFormatError:
    """The error for a 2xx answer the codec could not read. Retryable: a malformed body is
    a server fault that a second attempt usually does not repeat."""
    return ResponseFormatError(
        f"malformed {what} ({type(exc).__name__}): {excerpt(body)!r}",
        provider=provider,
        model=model,
        status=status,
        retryable=True,
    )
