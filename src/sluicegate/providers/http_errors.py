"""From an HTTP error answer to the right typed error, the same way for every provider.

Codecs extract the provider's message and error type from the body; this module decides
the error class and whether retrying can help, so that rule lives in one place:
408, 409, 429 and 5xx are worth retrying, 400/401/403/404/422 never are, a 429 that is
really a billing problem (``insufficient_quota``) never is either (openai-python #1671),
and a server's ``x-should-retry`` header overrides the guess.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Mapping

from sluicegate.errors import (
    AuthenticationError,
    ProviderError,
    RateLimitedError,
    ResponseFormatError,
)
from sluicegate.retry.retry_after import parse_retry_after
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
    whoever reads ``error.headers`` later sees the wait :mod:`sluicegate.retry.retry_after`
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


_SCAN_BYTES = 1 << 16
"""How much of an error body is read for its summary: a page's <title> is near its top."""
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def excerpt(body: bytes, limit: int = 200) -> str:
    """A body that is not the provider's JSON, as one short line for an error message: an
    HTML page's <title> (a proxy's "502 Bad Gateway"), else its first line with text, at
    most ``limit`` characters. The rest stays out, so that an error prints as one line,
    not as a proxy's page spread over the terminal and the logs."""
    head = body[:_SCAN_BYTES]
    title = _TITLE.search(head)
    if title is not None:
        text = html.unescape(title.group(1).decode("utf-8", "replace"))
    else:
        text = head.decode("utf-8", "replace")
        if "<" in text and ">" in text:
            text = html.unescape(_TAG.sub("\n", text))
        text = next((line for line in text.splitlines() if line.strip()), "")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _raw_excerpt(body: bytes, limit: int = 300) -> str:
    """The first bytes of a body as they are, for a malformed answer (shown quoted)."""
    text = body[:limit].decode("utf-8", "replace")
    return text + ("…" if len(body) > limit else "")


def malformed_answer(
    *,
    provider: str,
    model: str,
    what: str,
    body: bytes,
    status: int,
    problem: str | None = None,
    exc: BaseException | None = None,
) -> ResponseFormatError:
    """The error for a 2xx answer the codec could not read: ``problem`` says what was
    wrong (a field path and what it held), else the exception the codec hit. Retryable:
    a malformed body is a server fault that a second attempt usually does not repeat."""
    why = problem or (type(exc).__name__ if exc is not None else "unexpected shape")
    return ResponseFormatError(
        f"malformed {what}: {why}; body {_raw_excerpt(body, 200)!r}",
        provider=provider,
        model=model,
        status=status,
        retryable=True,
    )
