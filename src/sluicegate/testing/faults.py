"""Fault injection for the mock server: which fault a request gets, and what it looks like.

The decision (:class:`FaultPlan`) is a small synchronous object with no I/O, so it can be
unit-tested alone and shared by every route. Four ways to choose, strongest first:

1. A request header ``x-mock-fault: <kind>`` (or ``none``) decides for that request alone;
   it consumes neither a script entry nor a random draw.
2. Windows (:class:`FaultWindow`): while the server's clock is within ``[start_s, end_s)``
   of when the plan was installed, and the request names the window's model (or the
   window has none), the request gets the window's fault. Outages and brownouts are
   periods of time, often of one model, not fractions of requests. The first matching
   window wins; windows consume nothing, so a script resumes where it was after them.
3. A script: an ordered list of kinds (``None`` for "no fault"), one entry consumed per
   request in arrival order. Once it is used up, rates apply.
4. Rates: a mapping kind -> probability, drawn from a ``random.Random`` seeded at
   construction, so a run with the same seed and request order injects the same faults.
   Exactly one draw is made per request that reaches this step.

Fault kinds and what the client sees:

- ``rate_limit``: 429 with ``Retry-After`` (whole seconds) and ``retry-after-ms``; OpenAI
  body type ``requests`` / code ``rate_limit_exceeded``, Anthropic ``rate_limit_error``.
- ``rate_limit_bare``: the same 429 and body with no ``Retry-After``, no ``retry-after-ms``
  and no rate-limit headers, as gateways and some providers answer: the client has to
  choose its own wait.
- ``rate_limit_zero``: the same with ``retry-after: 0`` only, as LiteLLM relays send it
  (an upstream's hint lost on the way): retrying at once would hammer the server.
- ``quota``: a 429 that will never succeed: OpenAI type and code ``insufficient_quota``;
  Anthropic ``rate_limit_error`` with ``details.error_code`` ``enforced_spend_limit_reached``.
  No ``Retry-After``.
- ``server_error``: 500, OpenAI ``server_error``, Anthropic ``api_error``.
- ``overloaded``: OpenAI 503 ``server_error``; Anthropic 529 ``overloaded_error`` (the
  status is configurable in ``MockConfig``).
- ``bad_request``: 400 ``invalid_request_error``.
- ``auth``: 401, OpenAI ``invalid_request_error`` / ``invalid_api_key``, Anthropic
  ``authentication_error``.
- ``hang``: no answer for ``MockConfig.hang_s`` (default an hour), then a normal answer;
  the client's timeout must cut it. It ends early when the client disconnects or the
  server shuts down.
- ``cut_stream``: the connection drops part-way: a stream stops after some events,
  without its final ones; a plain answer stops after half of its JSON. The app raises
  :class:`MockConnectionCut` to do it, which an HTTP server turns into a closed connection
  (chunked body never terminated) and an in-memory transport into a transport failure.
- ``malformed``: a 200 whose body is not valid JSON (plain), or a stream with one event
  whose data is not JSON (the stream then ends normally).
- ``stream_error``: an error event inside a 200 stream after some content (Anthropic
  ``event: error`` with ``overloaded_error``; OpenAI ``data: {"error": {...}}``). A plain
  request is answered as ``overloaded``.

Gemini's errors are Google's ``google.rpc.Status`` bodies and carry no Retry-After or
rate-limit headers: ``rate_limit`` is a 429 ``RESOURCE_EXHAUSTED`` whose ``QuotaFailure``
names a per-minute quota and whose ``RetryInfo.retryDelay`` is the wait; ``_bare`` and
``_zero`` leave the RetryInfo out (``_zero`` keeps its ``retry-after: 0`` header, as a
relay adds it); ``quota`` names a per-day quota only (with a RetryInfo of seconds, as the
real API sends one even then); ``server_error`` 500 ``INTERNAL``; ``overloaded`` 503
``UNAVAILABLE``; ``bad_request`` 400 ``INVALID_ARGUMENT``; ``auth`` 400
``INVALID_ARGUMENT`` with the ``ErrorInfo`` reason ``API_KEY_INVALID``, as Google answers
a wrong key.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args

__all__ = [
    "BODY_FAULTS",
    "FAULT_HEADER",
    "FAULT_KINDS",
    "STATUS_FAULTS",
    "ErrorReply",
    "FaultChoice",
    "FaultKind",
    "FaultPlan",
    "FaultWindow",
    "MockConnectionCut",
    "Provider",
    "fault_reply",
    "gemini_quota_details",
    "google_duration",
    "parse_fault_kind",
    "parse_fault_rate",
    "parse_fault_window",
    "provider_error",
]

FaultKind = Literal[
    "rate_limit",
    "quota",
    "server_error",
    "overloaded",
    "bad_request",
    "auth",
    "hang",
    "cut_stream",
    "malformed",
    "stream_error",
    "rate_limit_bare",
    "rate_limit_zero",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
"""Every fault kind, in the fixed order in which rates are laid out on ``[0, 1)`` (new
kinds go last, so existing rates and seeds keep injecting the same faults)."""

STATUS_FAULTS: frozenset[FaultKind] = frozenset(
    {
        "rate_limit",
        "rate_limit_bare",
        "rate_limit_zero",
        "quota",
        "server_error",
        "overloaded",
        "bad_request",
        "auth",
    }
)
"""Faults answered at once with an error status and body."""

BODY_FAULTS: frozenset[FaultKind] = frozenset({"cut_stream", "malformed", "stream_error"})
"""Faults that damage an otherwise normal 200 answer."""

FAULT_HEADER = "x-mock-fault"
"""Request header that picks the fault for one request (a kind, or ``none``)."""

Provider = Literal["openai", "anthropic", "gemini"]

_NO_FAULT = frozenset({"", "none", "null", "ok"})


class MockConnectionCut(Exception):
    """Raised by the mock app, after part of a response was sent, to drop the connection.

    An HTTP server answers an app failure after the response started by closing the
    connection without ending the body, which is exactly a cut stream. In-memory
    transports should treat it (like any app exception after the start) as a connection
    failure.
    """


def parse_fault_kind(value: str | None) -> FaultKind | None:
    """``"rate_limit"`` -> ``"rate_limit"``; ``"none"``, ``""`` or None -> None.

    Raises ValueError naming the valid kinds, because a typo in a test or on the command
    line should fail loudly rather than silently inject nothing.
    """
    if value is None:
        return None
    name = value.strip().lower().replace("-", "_")
    if name in _NO_FAULT:
        return None
    for kind in FAULT_KINDS:
        if kind == name:
            return kind
    raise ValueError(f"unknown fault kind {value!r}; expected one of {', '.join(FAULT_KINDS)}")


def parse_fault_rate(spec: str) -> tuple[FaultKind, float]:
    """``"rate_limit=0.1"`` -> ``("rate_limit", 0.1)``, for the command line."""
    name, sep, rate_text = spec.partition("=")
    kind = parse_fault_kind(name)
    if not sep or kind is None:
        raise ValueError(f"expected KIND=RATE with a fault kind, got {spec!r}")
    try:
        rate = float(rate_text)
    except ValueError:
        raise ValueError(f"rate in {spec!r} is not a number") from None
    return kind, rate


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A fault for every request in a period of time, optionally of one model only.

    Times are seconds on the server's clock since the plan was installed (app creation
    or ``POST /_mock/reset``); the window covers ``[start_s, end_s)``, ``end_s`` None
    meaning for ever. ``model`` is the bare name as the request body sends it (``"fast"``
    for ``mock/fast``); None covers every request. ``retry_after_s`` replaces
    ``MockConfig.retry_after_s`` for a ``rate_limit`` window, so one model can ask for a
    day's wait while the others ask for a second.
    """

    start_s: float
    end_s: float | None
    kind: FaultKind
    model: str | None = None
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        kind = parse_fault_kind(self.kind)
        if kind is None:
            raise ValueError(f"a window needs a fault kind, got {self.kind!r}")
        object.__setattr__(self, "kind", kind)
        if not _is_number(self.start_s) or not math.isfinite(self.start_s):
            raise ValueError(f"start_s must be a finite number, got {self.start_s!r}")
        if self.end_s is not None and not (_is_number(self.end_s) and self.end_s > self.start_s):
            raise ValueError(f"end_s must be None or a number > start_s, got {self.end_s!r}")
        if self.model is not None and not (isinstance(self.model, str) and self.model):
            raise ValueError(f"model must be None or a model name, got {self.model!r}")
        if self.retry_after_s is not None:
            if kind != "rate_limit":
                raise ValueError(f"retry_after_s applies to rate_limit windows only, not {kind}")
            ok = _is_number(self.retry_after_s) and math.isfinite(self.retry_after_s)
            if not (ok and self.retry_after_s >= 0):
                raise ValueError(f"retry_after_s must be >= 0, got {self.retry_after_s!r}")

    def covers(self, elapsed_s: float, model: str | None) -> bool:
        """Whether a request for ``model`` at ``elapsed_s`` since installation gets it."""
        if elapsed_s < self.start_s or (self.end_s is not None and elapsed_s >= self.end_s):
            return False
        return self.model is None or self.model == model


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_fault_window(spec: str) -> FaultWindow:
    """``"10:70:overloaded:fast"`` -> a window from 10 s to 70 s of ``overloaded`` for the
    model ``fast``, for the command line (``START:END:KIND[:MODEL]``; END empty for ever;
    the model is the rest, so it may hold colons, as Ollama's ``llama3:8b`` does)."""
    parts = spec.split(":", 3)
    if len(parts) < 3:
        raise ValueError(f"expected START:END:KIND[:MODEL], got {spec!r}")
    start_text, end_text, kind_text = (p.strip() for p in parts[:3])
    model = parts[3] if len(parts) == 4 and parts[3] else None
    try:
        start = float(start_text)
        end = float(end_text) if end_text else None
    except ValueError:
        raise ValueError(f"START and END in {spec!r} must be seconds") from None
    kind = parse_fault_kind(kind_text)
    if kind is None:
        raise ValueError(f"expected a fault kind in {spec!r}")
    return FaultWindow(start, end, kind, model)


class FaultChoice(NamedTuple):
    """What :meth:`FaultPlan.choose` decided: the fault, and the window it came from."""

    kind: FaultKind | None
    window: FaultWindow | None = None

    @property
    def retry_after_s(self) -> float | None:
        """The wait the window asks for instead of ``MockConfig.retry_after_s``, if any."""
        return self.window.retry_after_s if self.window is not None else None


class FaultPlan:
    """Decides, request by request, which fault (if any) to inject.

    ``rates`` maps kinds to probabilities (their sum at most 1); ``script`` is consumed
    first, one entry per request; ``seed`` makes the random draws reproducible;
    ``windows`` apply by time and model before the script (see :class:`FaultWindow`).
    :meth:`reset` restores the script and the random stream to their initial state.
    """

    __slots__ = ("_cumulative", "_position", "_random", "_rates", "_script", "seed", "windows")

    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        script: Iterable[str | None] = (),
        seed: int = 0,
        windows: Iterable[FaultWindow] = (),
    ) -> None:
        self.windows: tuple[FaultWindow, ...] = tuple(windows)
        for window in self.windows:
            if not isinstance(window, FaultWindow):
                raise ValueError(f"windows must be FaultWindow objects, got {window!r}")
        checked: dict[FaultKind, float] = {}
        for name, rate in (rates or {}).items():
            kind = parse_fault_kind(name)
            if kind is None:
                raise ValueError(f"a rate needs a fault kind, got {name!r}")
            if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
                raise ValueError(f"rate for {kind} must be within [0, 1], got {rate!r}")
            checked[kind] = checked.get(kind, 0.0) + rate
        total = math.fsum(checked.values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:g}, more than 1")
        self._rates = checked
        # Lay the rates out on [0, 1) in the canonical kind order, so the same rates give
        # the same faults whatever order the mapping was written in.
        cumulative: list[tuple[float, FaultKind]] = []
        acc = 0.0
        for kind in FAULT_KINDS:
            if checked.get(kind, 0.0) > 0.0:
                acc += checked[kind]
                cumulative.append((acc, kind))
        self._cumulative = tuple(cumulative)
        self._script: tuple[FaultKind | None, ...] = tuple(parse_fault_kind(s) for s in script)
        self._position = 0
        self.seed = seed
        self._random = random.Random(seed)

    @property
    def rates(self) -> dict[FaultKind, float]:
        return dict(self._rates)

    @property
    def script(self) -> tuple[FaultKind | None, ...]:
        return self._script

    @property
    def script_remaining(self) -> int:
        """Script entries not yet consumed."""
        return len(self._script) - self._position

    def next(self, override: str | None = None) -> FaultKind | None:
        """The fault for the next request, windows aside. ``override`` is the
        ``x-mock-fault`` header's value, if the request had one; it wins and consumes
        nothing."""
        return self.choose(override).kind

    def choose(
        self,
        override: str | None = None,
        *,
        elapsed_s: float | None = None,
        model: str | None = None,
    ) -> FaultChoice:
        """The fault for the next request: the header's (``override``), else the first
        window covering ``elapsed_s`` (seconds since the plan was installed; None skips
        windows) and ``model``, else the script's next entry, else a draw."""
        if override is not None:
            return FaultChoice(parse_fault_kind(override))
        if elapsed_s is not None:
            for window in self.windows:
                if window.covers(elapsed_s, model):
                    return FaultChoice(window.kind, window)
        return FaultChoice(self._scripted_or_drawn())

    def _scripted_or_drawn(self) -> FaultKind | None:
        if self._position < len(self._script):
            kind = self._script[self._position]
            self._position += 1
            return kind
        if not self._cumulative:
            return None
        draw = self._random.random()
        for bound, kind in self._cumulative:
            if draw < bound:
                return kind
        return None

    def reset(self) -> None:
        self._position = 0
        self._random = random.Random(self.seed)

    def __repr__(self) -> str:
        return (
            f"FaultPlan(rates={self._rates!r}, script={list(self._script)!r}, "
            f"seed={self.seed!r}, windows={list(self.windows)!r}, "
            f"script_remaining={self.script_remaining})"
        )


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error answer, ready to send: status, extra headers and a body (JSON unless
    ``media_type`` says otherwise)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    media_type: str = "application/json"
    gateway: bool = False
    """Answered by a gateway in front of the provider (nginx's 429), so it carries none
    of the provider's headers (no request id)."""


def provider_error(
    provider: Provider,
    status: int,
    error_type: str,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ErrorReply:
    """An error in the provider's shape.

    OpenAI: ``{"error": {"message", "type", "param", "code"}}``. Anthropic:
    ``{"type": "error", "error": {"type", "message"[, "details"]}, "request_id"}``.
    Gemini (Google's ``google.rpc.Status``): ``{"error": {"code": <status>, "message",
    "status": <error_type, e.g. RESOURCE_EXHAUSTED>[, "details": [...]]}}``, where
    ``details`` is the list of typed detail objects (``RetryInfo``, ``QuotaFailure``...).
    """
    payload: dict[str, Any]
    if provider == "openai":
        payload = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    elif provider == "gemini":
        status_body: dict[str, Any] = {"code": status, "message": message, "status": error_type}
        if details is not None:
            status_body["details"] = list(details["details"])
        payload = {"error": status_body}
    else:
        error: dict[str, Any] = {"type": error_type, "message": message}
        if details is not None:
            error["details"] = dict(details)
        payload = {"type": "error", "error": error, "request_id": request_id}
    return ErrorReply(status, dict(headers or {}), json.dumps(payload).encode())


def _retry_headers(retry_after_s: float) -> dict[str, str]:
    return {
        "retry-after": str(max(0, math.ceil(retry_after_s))),
        "retry-after-ms": str(max(0, round(retry_after_s * 1000))),
    }


# kind -> (status, error type, error code, message), as the real APIs word them.
_OPENAI_ERRORS: dict[FaultKind, tuple[int, str, str | None, str]] = {
    "rate_limit": (
        429,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests (mock). Please try again later.",
    ),
    "quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details (mock).",
    ),
    "server_error": (
        500,
        "server_error",
        None,
        "The server had an error while processing your request (mock).",
    ),
    "overloaded": (
        503,
        "server_error",
        None,
        "The engine is currently overloaded, please try again later (mock).",
    ),
    "bad_request": (
        400,
        "invalid_request_error",
        None,
        "The request was rejected by fault injection (mock).",
    ),
    "auth": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided (mock)."),
}
# The bare and zero-wait 429s differ from rate_limit only in their headers.
_OPENAI_ERRORS["rate_limit_bare"] = _OPENAI_ERRORS["rate_limit"]
_OPENAI_ERRORS["rate_limit_zero"] = _OPENAI_ERRORS["rate_limit"]

# kind -> (status, error type, details.error_code, message); 529 is replaced by the
# configured overloaded status.
_ANTHROPIC_ERRORS: dict[FaultKind, tuple[int, str, str | None, str]] = {
    "rate_limit": (
        429,
        "rate_limit_error",
        None,
        "This request would exceed the rate limit (mock). Please try again later.",
    ),
    "quota": (
        429,
        "rate_limit_error",
        "enforced_spend_limit_reached",
        "Your organization has reached its monthly spend limit (mock).",
    ),
    "server_error": (500, "api_error", None, "Internal server error (mock)."),
    "overloaded": (529, "overloaded_error", None, "Overloaded (mock)."),
    "bad_request": (
        400,
        "invalid_request_error",
        None,
        "The request was rejected by fault injection (mock).",
    ),
    "auth": (401, "authentication_error", None, "invalid x-api-key (mock)."),
}
_ANTHROPIC_ERRORS["rate_limit_bare"] = _ANTHROPIC_ERRORS["rate_limit"]
_ANTHROPIC_ERRORS["rate_limit_zero"] = _ANTHROPIC_ERRORS["rate_limit"]


_GOOGLE_TYPES = "type.googleapis.com/google.rpc."
_GEMINI_MINUTE_QUOTA = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
_GEMINI_DAY_QUOTA = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"

# kind -> (status, google.rpc status name, message), as the Gemini API words them. The
# details (quota, retry wait, key) are added by _gemini_details.
_GEMINI_ERRORS: dict[FaultKind, tuple[int, str, str]] = {
    "rate_limit": (
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details (mock).",
    ),
    "quota": (
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota for today, please check your plan and billing "
        "details (mock).",
    ),
    "server_error": (500, "INTERNAL", "An internal error has occurred (mock)."),
    "overloaded": (503, "UNAVAILABLE", "The model is overloaded. Please try again later (mock)."),
    "bad_request": (
        400,
        "INVALID_ARGUMENT",
        "The request was rejected by fault injection (mock).",
    ),
    "auth": (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key (mock)."),
}
_GEMINI_ERRORS["rate_limit_bare"] = _GEMINI_ERRORS["rate_limit"]
_GEMINI_ERRORS["rate_limit_zero"] = _GEMINI_ERRORS["rate_limit"]


def google_duration(seconds: float) -> str:
    """A protobuf ``Duration`` in its JSON form, as ``RetryInfo.retryDelay`` carries it:
    ``"37s"``, or ``"1.500s"`` for a fraction."""
    seconds = max(0.0, seconds)
    return f"{seconds:.0f}s" if seconds == int(seconds) else f"{seconds:.3f}s"


def gemini_quota_details(quota_id: str, retry_after_s: float | None) -> dict[str, Any]:
    """The ``details`` of a Gemini 429: the ``QuotaFailure`` naming the quota, then the
    ``RetryInfo`` with the wait when there is one (the real API sends no Retry-After)."""
    details: list[dict[str, Any]] = [
        {
            "@type": _GOOGLE_TYPES + "QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/"
                    "generate_content_free_tier_requests",
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global"},
                    "quotaValue": "10",
                }
            ],
        }
    ]
    if retry_after_s is not None:
        details.append(
            {"@type": _GOOGLE_TYPES + "RetryInfo", "retryDelay": google_duration(retry_after_s)}
        )
    return {"details": details}


def _gemini_details(kind: FaultKind, retry_after_s: float) -> dict[str, Any] | None:
    """What a Gemini fault's body lists in ``details``: a per-minute quota with its wait
    (``rate_limit``) or without one (``rate_limit_bare``, ``rate_limit_zero``), a per-day
    quota (``quota``; the real API adds a RetryInfo of seconds even then, which a client
    must not trust), the key's ``ErrorInfo`` (``auth``)."""
    if kind == "rate_limit":
        return gemini_quota_details(_GEMINI_MINUTE_QUOTA, retry_after_s)
    if kind in ("rate_limit_bare", "rate_limit_zero"):
        return gemini_quota_details(_GEMINI_MINUTE_QUOTA, None)
    if kind == "quota":
        return gemini_quota_details(_GEMINI_DAY_QUOTA, 20.0)
    if kind == "auth":
        return {
            "details": [
                {
                    "@type": _GOOGLE_TYPES + "ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
        }
    return None


def fault_reply(
    kind: FaultKind,
    provider: Provider,
    *,
    retry_after_s: float = 1.0,
    anthropic_overloaded_status: int = 529,
    request_id: str | None = None,
) -> ErrorReply:
    """The error answer for a status fault (and for ``stream_error`` on a plain request,
    which is answered as ``overloaded``). Raises ValueError for other kinds."""
    if kind == "stream_error":
        kind = "overloaded"
    if kind not in STATUS_FAULTS:
        raise ValueError(f"{kind} is not answered with an error status")
    headers: dict[str, str] | None = None
    if kind == "rate_limit":
        headers = _retry_headers(retry_after_s)
    elif kind == "rate_limit_zero":
        headers = {"retry-after": "0"}
    if provider == "openai":
        status, error_type, code, message = _OPENAI_ERRORS[kind]
        return provider_error(provider, status, error_type, message, code=code, headers=headers)
    if provider == "gemini":
        status, error_type, message = _GEMINI_ERRORS[kind]
        if kind == "rate_limit":
            headers = None  # the wait is in the body's RetryInfo; Gemini sends no header
        return provider_error(
            provider,
            status,
            error_type,
            message,
            details=_gemini_details(kind, retry_after_s),
            headers=headers,
        )
    status, error_type, error_code, message = _ANTHROPIC_ERRORS[kind]
    if kind == "overloaded":
        status = anthropic_overloaded_status
    return provider_error(
        provider,
        status,
        error_type,
        message,
        request_id=request_id,
        details={"error_code": error_code} if error_code else None,
        headers=headers,
    )
