"""How the mock server behaves: :class:`MockConfig`.

It lives apart from the app so that every part of the server (the wire formats, and
later the rate limits and batch APIs) can read its settings without importing the app.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sluicegate.clock import Clock
from sluicegate.testing.faults import FaultPlan

__all__ = ["DEFAULT_MODELS", "MockConfig"]

DEFAULT_MODELS: tuple[str, ...] = ("fast", "smart")
"""Models listed by ``GET /v1/models`` when ``MockConfig.models`` is None."""


@dataclass
class MockConfig:
    """How the mock server behaves. Times are in seconds."""

    latency_s: float = 0.0
    """Wait before the first byte of an answer."""
    per_token_latency_s: float = 0.0
    """Wait between streamed pieces; for a plain answer, this times its output tokens."""
    faults: FaultPlan = field(default_factory=FaultPlan)
    """Which requests get which fault. The app keeps using this object (its script
    position and random state advance) until ``POST /_mock/reset`` replaces it, so two
    apps should not share one plan."""
    hang_s: float = 3600.0
    """How long the ``hang`` fault waits before answering."""
    require_api_key: str | None = field(default=None, repr=False)
    """When set, OpenAI routes need ``Authorization: Bearer <key>`` and Anthropic routes
    ``x-api-key: <key>`` (or the Bearer header, which the anthropic SDK 2.x sends); else
    401. Hidden from repr, like every secret."""
    models: Sequence[str] | None = None
    """Accepted model names; None accepts any name."""
    retry_after_s: float = 1.0
    """The wait a ``rate_limit`` fault asks for (``Retry-After`` rounds it up)."""
    anthropic_overloaded_status: int = 529
    """Status of Anthropic's ``overloaded`` fault: 529 as the real API, or e.g. 503."""
    fault_after_pieces: int | None = None
    """Pieces a damaged stream sends before the fault hits; None means half of them."""
    tool_trigger: str = "weather"
    """Word in the last user message that turns an answer into a tool call."""
    invalid_json_answers: int = 0
    """How many asks of a conversation asking for JSON get an answer that does not fit
    (prose, then the wrong shape) before a valid one: for testing re-asks (see
    :mod:`sluicegate.testing.mock_structured`)."""
    rpm: int | None = None
    """Requests per minute per model; over it, 429 with Retry-After (see
    :mod:`sluicegate.testing.mock_ratelimit`). None: no limit."""
    tpm: int | None = None
    """Tokens (input plus output) per minute per model. None: no limit."""
    rate_limit_burst_s: float = 60.0
    """How much of ``rpm``/``tpm`` may be spent at once, in seconds of the rate."""
    limit_rps: float | None = None
    """An nginx ``limit_req`` in front of the server (one key for every client), in
    requests per second; over it, nginx's bare HTML 429 (see
    :mod:`sluicegate.testing.mock_limit_req`). None: no such limiter."""
    limit_burst: int = 0
    """``limit_req``'s ``burst``: how many requests beyond the rate may arrive at once
    (``nodelay``: they are answered at once, not queued)."""
    idempotency_records: int = 10_000
    """How many answers are kept for replay by ``Idempotency-Key`` (plain requests; see
    :mod:`sluicegate.testing.mock_idempotency`); 0 turns replay off."""
    record_arrivals: bool = False
    """Keep each completion request's arrival time, status and tokens, for ``GET
    /_mock/arrivals`` (see :mod:`sluicegate.testing.mock_arrivals`): what tests of a
    shared rate limit judge by. Off by default, so benchmarks pay nothing for it."""
    arrival_cap: int = 100_000
    """How many arrivals are kept (a few dozen bytes each); later ones are only counted
    as dropped."""
    clock: Clock | None = field(default=None, repr=False, compare=False)
    """The server's clock for rate limits and batch jobs; None: the event loop's. Tests
    share a :class:`~sluicegate.clock.FakeClock` with the client to measure in virtual
    time."""
    batch_seconds: float = 2.0
    """How long a batch job takes on the mock's clock, from creation to its end (see
    :mod:`sluicegate.testing.mock_batch_timeline`); real providers take up to 24 hours."""
    batch_item_failure_rate: float = 0.0
    """Fraction of batch items that fail (OpenAI: a 500 line in the error file;
    Anthropic: ``errored``), decided per custom_id and submission, so a resubmitted item
    gets a fresh draw."""
    batch_item_expiry_rate: float = 0.0
    """Fraction of batch items that expire (OpenAI: ``batch_expired`` in the error file;
    Anthropic: ``expired``), decided like failures."""
    batch_failure_rate: float = 0.0
    """Fraction of whole batch jobs that fail (OpenAI: status ``failed`` at validation;
    Anthropic: every item ``errored``), decided per job."""
    batch_seed: int = 0
    """Seed of the batch draws above (item and job outcomes are a hash of it)."""
    openai_batch_max_requests: int = 50_000
    """Requests one OpenAI batch input file may hold (the real limit); more fails the
    batch at validation with ``too_many_tasks``."""
    openai_batch_max_bytes: int = 200 * 1024 * 1024
    """Bytes one OpenAI batch input file may hold (the real limit: 200 MB)."""
    anthropic_batch_max_requests: int = 100_000
    """Requests one Anthropic Message Batch may hold (the real limit); more is a 400."""
    anthropic_batch_max_bytes: int = 256 * 1024 * 1024
    """Bytes of one Message Batch create body (the real limit: 256 MB); more is a 413."""

    def __post_init__(self) -> None:
        if isinstance(self.models, str):  # one name, not its characters
            self.models = (self.models,)
        for name in ("latency_s", "per_token_latency_s", "hang_s", "retry_after_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise ValueError(f"{name} must be a whole number >= 1")
        rps = self.limit_rps
        if rps is not None and (
            isinstance(rps, bool) or not isinstance(rps, int | float) or not 0 < rps < math.inf
        ):
            raise ValueError("limit_rps must be a finite number > 0")
        burst = self.limit_burst
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
            raise ValueError("limit_burst must be a whole number >= 0")
        records = self.idempotency_records
        if isinstance(records, bool) or not isinstance(records, int) or records < 0:
            raise ValueError("idempotency_records must be a whole number >= 0")
        cap = self.arrival_cap
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError("arrival_cap must be a whole number >= 1")
        if not self.rate_limit_burst_s > 0:
            raise ValueError("rate_limit_burst_s must be > 0")
        if not self.batch_seconds >= 0:
            raise ValueError("batch_seconds must be >= 0")
        rates = ("batch_item_failure_rate", "batch_item_expiry_rate", "batch_failure_rate")
        for name in rates:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.batch_item_failure_rate + self.batch_item_expiry_rate > 1.0:
            raise ValueError("batch_item_failure_rate + batch_item_expiry_rate must be <= 1")
        for name in (
            "openai_batch_max_requests",
            "openai_batch_max_bytes",
            "anthropic_batch_max_requests",
            "anthropic_batch_max_bytes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1")
