"""The mock LLM server: an ASGI app that speaks OpenAI Chat Completions, Anthropic
Messages and the Gemini API, plain and streamed, with deterministic content, latency and
fault injection.

It is a plain ASGI callable (a Starlette app), so it runs behind hypercorn
(:func:`sluicegate.testing.serve_mock`) or directly through an in-memory transport.
Only anyio is used for waiting, so it runs under asyncio and trio alike.

Routes
    ``POST /v1/chat/completions`` (OpenAI), ``POST /v1/messages`` (Anthropic),
    ``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``
    (Gemini; also under ``/v1/models/``; the model in the path is bound into the body,
    :meth:`~.mock_wire.WireFormat.bind`), ``GET /v1beta/models`` (Gemini's listing),
    ``GET /v1/models`` (Anthropic's list shape when the request carries ``anthropic-version``
    or ``x-api-key``, else OpenAI's), ``GET /_mock/stats`` (``?batch_ids=1`` adds every
    batch custom_id's counts), ``GET /_mock/arrivals`` (each completion request's arrival
    time, status, tokens and ``x-mock-client`` header, when ``MockConfig.record_arrivals``
    is set: see :mod:`~sluicegate.testing.mock_arrivals`; else 404), ``POST /_mock/reset``;
    the batch APIs: OpenAI's ``/v1/files`` and ``/v1/batches``
    (:mod:`~sluicegate.testing.mock_openai_batch`) and Anthropic's ``/v1/messages/batches``
    (:mod:`~sluicegate.testing.mock_anthropic_batch`).
    Batch routes go through steps 1, 2 and 4 below (status faults only; a body fault drawn
    for them is not applied; only windows without a model cover them) and are never rate
    limited.

What a completion request goes through, in order
    1. counted in the stats (``/_mock/*`` requests are not counted);
    2. API key check, when ``MockConfig.require_api_key`` is set: ``Authorization: Bearer``
       on every route, or ``x-api-key`` on Anthropic routes, ``x-goog-api-key`` on Gemini
       routes (401, Gemini's 403/400; the key never echoed);
    3. body parsed as JSON (400 if not);
    4. fault decision (see :mod:`sluicegate.testing.faults`): the ``x-mock-fault``
       header, then the plan's windows (by the server's clock since the plan was
       installed, and the body's ``model``), then its script and rates; a status fault
       answers now;
    5. request validated (400; unknown model 404 when ``MockConfig.models`` is set);
       a plain request with an ``Idempotency-Key`` whose answer is recorded gets it
       replayed here, uncharged, and one whose twin is in flight waits for it
       (:mod:`sluicegate.testing.mock_idempotency`);
    6. ``admission_checks``: the nginx-like ``limit_req`` of ``MockConfig.limit_rps``
       when set (:mod:`sluicegate.testing.mock_limit_req`: a bare HTML 429, counted as
       ``limited``), then the rate limits of ``MockConfig.rpm``/``tpm`` when set
       (:mod:`sluicegate.testing.mock_ratelimit`, whose headers every admitted answer
       carries), then any a test added;
    7. ``hang`` fault, then ``latency_s`` before the first byte, then the answer, with
       ``per_token_latency_s`` between streamed pieces (or once per output token, summed,
       for a plain answer). Status faults are answered without latency, like a gateway
       that rejects early.

A request whose answer is complete and undamaged counts as ``succeeded`` in the stats
(and for its ``Idempotency-Key``): it is what a provider charges for. A stream counts when
its last event was sent, so one whose client went away (noticed through
``http.disconnect``) does not. A replayed answer counts as ``replayed``, not charged.

Content
    See :mod:`sluicegate.testing.content`. The prompt is the text of the last user
    message; input tokens count every message. ``n``, ``stop``, ``temperature`` and the
    like are accepted and ignored. Tool calls: see :mod:`sluicegate.testing.mock_wire`.

Models
    With ``MockConfig.models = None`` (the default) every model name is accepted, because
    users address the mock as ``mock/<anything>`` and the server sees ``<anything>``;
    ``GET /v1/models`` then lists :data:`DEFAULT_MODELS`. With a list, only exactly those
    names are accepted and an unknown one is a provider-shaped 404.

Where things are
    This module holds the routes and the pipeline above, and nothing provider-shaped.
    ``mock_config`` (:class:`MockConfig`), ``mock_stats`` (:class:`MockStats`),
    ``mock_wire`` (:class:`MockJob` and what the wire formats share), ``mock_openai``,
    ``mock_anthropic`` and ``mock_gemini`` (each format's bodies, events and errors),
    ``mock_streaming`` (SSE pacing, stream faults, the streamed and cut responses),
    ``mock_hang`` (the ``hang`` fault's wait).
"""

from __future__ import annotations

import hmac
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sluicegate.clock import AnyioClock, Clock
from sluicegate.testing.faults import (
    FAULT_HEADER,
    STATUS_FAULTS,
    ErrorReply,
    FaultChoice,
    FaultKind,
    FaultPlan,
    FaultWindow,
    provider_error,
)
from sluicegate.testing.mock_anthropic import AnthropicWire
from sluicegate.testing.mock_anthropic_batch import AnthropicBatchAPI
from sluicegate.testing.mock_arrivals import Arrival, Arrivals
from sluicegate.testing.mock_batch_stats import BatchStats
from sluicegate.testing.mock_config import DEFAULT_MODELS, MockConfig
from sluicegate.testing.mock_gemini import GENERATE, STREAM_GENERATE, GeminiWire
from sluicegate.testing.mock_hang import Hangs
from sluicegate.testing.mock_idempotency import Claim, IdempotencyRecords, body_digest
from sluicegate.testing.mock_limit_req import LimitReq
from sluicegate.testing.mock_openai import OpenAIWire
from sluicegate.testing.mock_openai_batch import OpenAIBatchAPI
from sluicegate.testing.mock_ratelimit import MockRateLimits
from sluicegate.testing.mock_stats import MockStats
from sluicegate.testing.mock_streaming import CutResponse, EventStreamResponse, paced_events
from sluicegate.testing.mock_wire import AdmissionCheck, MockJob, WireFormat, dumps

__all__ = [
    "DEFAULT_MODELS",
    "AdmissionCheck",
    "MockApp",
    "MockConfig",
    "MockJob",
    "MockStats",
    "create_app",
]


class MockApp(Starlette):
    """The mock server app. Build it with :func:`create_app`."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config if config is not None else MockConfig()
        self.faults = self.config.faults
        self.stats = MockStats()
        self.admission_checks: list[AdmissionCheck] = []
        self.limit_req: LimitReq | None = None
        if self.config.limit_rps is not None:
            self.limit_req = LimitReq(
                self.config.limit_rps, self.config.limit_burst, self.config.clock
            )
            self.admission_checks.append(self._check_limit_req)
        self.rate_limits: MockRateLimits | None = None
        if self.config.rpm is not None or self.config.tpm is not None:
            self.rate_limits = MockRateLimits.from_config(self.config)
            self.admission_checks.append(self.rate_limits.check)
        self.idempotency: IdempotencyRecords | None = (
            IdempotencyRecords(self.config.idempotency_records)
            if self.config.idempotency_records
            else None
        )
        self.arrivals: Arrivals | None = (
            Arrivals(self.config.arrival_cap, self.config.clock)
            if self.config.record_arrivals
            else None
        )
        self._openai = OpenAIWire(self.config)
        self._anthropic = AnthropicWire(self.config)
        self._gemini = {
            GENERATE: GeminiWire(self.config, streaming=False),
            STREAM_GENERATE: GeminiWire(self.config, streaming=True),
        }
        self._serials = itertools.count(1)
        self._hangs = Hangs()
        self._clock: Clock = self.config.clock if self.config.clock is not None else AnyioClock()
        self._plan_installed: float | None = None
        """When the fault plan was installed, on ``_clock``: what its windows' times count
        from. None until known: an app made outside an event loop reads the loop's clock
        at its first request instead."""
        self._mark_plan_installed()
        self.openai_batches = OpenAIBatchAPI(self, self._openai)
        self.anthropic_batches = AnthropicBatchAPI(self, self._anthropic)
        super().__init__(
            routes=[
                Route("/v1/chat/completions", self._openai_completions, methods=["POST"]),
                Route("/v1/messages", self._anthropic_messages, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1beta/models/{target}", self._gemini_generate, methods=["POST"]),
                Route("/v1/models/{target}", self._gemini_generate, methods=["POST"]),
                Route("/v1beta/models", self._list_gemini_models, methods=["GET"]),
                Route("/_mock/stats", self._get_stats, methods=["GET"]),
                Route("/_mock/arrivals", self._get_arrivals, methods=["GET"]),
                Route("/_mock/reset", self._reset, methods=["POST"]),
                *self.openai_batches.routes(),
                *self.anthropic_batches.routes(),
            ],
            lifespan=self._lifespan,
        )

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """A server that runs the ASGI lifespan (hypercorn) starts the windows' time when
        it starts serving, even if the app was made before the loop ran."""
        if self._plan_installed is None:
            self._plan_installed = self._clock.now()
        yield

    # -- control -------------------------------------------------------------------------

    def abort_hangs(self) -> None:
        """End every ``hang`` in progress (they answer 503), so a server can shut down at
        once instead of waiting for them."""
        self._hangs.abort_all()

    def reset(self, faults: FaultPlan | None = None) -> None:
        """Zero the stats and the arrival record, forget the recorded answers, refill the
        rate-limit buckets and restart the fault plan (or replace it). Batch jobs and
        files are kept (they are the provider's state, not counters); the batch counters
        start over, and so does the numbering of each custom_id's submissions that item
        outcomes are drawn for."""
        self.stats.reset()
        if self.arrivals is not None:
            self.arrivals.clear()
        if self.idempotency is not None:
            self.idempotency.clear()
        if self.limit_req is not None:
            self.limit_req.reset()
        if self.rate_limits is not None:
            self.rate_limits.reset()
        if faults is not None:
            self.faults = faults
        else:
            self.faults.reset()
        self._mark_plan_installed()

    def _mark_plan_installed(self) -> None:
        try:
            self._plan_installed = self._clock.now()
        except RuntimeError:  # the loop's clock, outside any loop: read at first use
            self._plan_installed = None

    def _plan_elapsed(self) -> float:
        """Seconds on the server's clock since the fault plan was installed."""
        now = self._clock.now()
        if self._plan_installed is None:
            self._plan_installed = now
        return now - self._plan_installed

    def _choose_fault(self, headers: Headers, model: str | None) -> FaultChoice:
        """Step 4: the header, the windows, the script, the rates (ValueError for an
        unknown kind in the header)."""
        override = headers.get(FAULT_HEADER)
        elapsed = self._plan_elapsed() if override is None and self.faults.windows else None
        return self.faults.choose(override, elapsed_s=elapsed, model=model)

    async def _get_stats(self, request: Request) -> Response:
        self.openai_batches.jobs.refresh()  # count the jobs that ended since the last look
        self.anthropic_batches.jobs.refresh()
        with_ids = request.query_params.get("batch_ids", "") in ("1", "true", "yes")
        return Response(dumps(self.stats.snapshot(with_ids)), media_type="application/json")

    async def _get_arrivals(self, request: Request) -> Response:
        if self.arrivals is None:
            message = (
                "arrivals are not recorded: start the mock with MockConfig(record_arrivals=True)"
            )
            return Response(dumps({"error": message}), 404, media_type="application/json")
        return Response(dumps(self.arrivals.snapshot()), media_type="application/json")

    async def _reset(self, request: Request) -> Response:
        """``POST /_mock/reset`` with an optional JSON body ``{"rates": {...}, "script":
        [...], "seed": 0, "windows": [{"start_s", "end_s", "kind", "model",
        "retry_after_s"}]}`` that replaces the fault plan; without one the plan
        restarts. Either way, window times count from now."""
        raw = await request.body()
        plan: FaultPlan | None = None
        if raw.strip():
            try:
                spec = json.loads(raw)
                if not isinstance(spec, dict):
                    raise ValueError("expected a JSON object")
                plan = FaultPlan(
                    rates=spec.get("rates"),
                    script=spec.get("script") or (),
                    seed=int(spec.get("seed", 0)),
                    windows=_windows(spec.get("windows") or []),
                )
            except (ValueError, TypeError) as exc:
                return Response(dumps({"error": str(exc)}), 400, media_type="application/json")
        self.reset(plan)
        return Response(dumps({"ok": True}), media_type="application/json")

    # -- routes --------------------------------------------------------------------------

    async def _openai_completions(self, request: Request) -> Response:
        if self.arrivals is None:  # one check, and no extra call, for benchmarks
            return await self._complete(request, self._openai)
        return await self._recorded(request, self._openai)

    async def _anthropic_messages(self, request: Request) -> Response:
        if self.arrivals is None:
            return await self._complete(request, self._anthropic)
        return await self._recorded(request, self._anthropic)

    async def _gemini_generate(self, request: Request) -> Response:
        """``models/{model}:generateContent`` or ``:streamGenerateContent``: the method
        picks the wire format's instance, the model is bound into the body."""
        model, _, method = request.path_params["target"].rpartition(":")
        wire = self._gemini.get(method)
        if wire is None or not model:
            self.stats.count_request(request.url.path)
            reply = provider_error(
                "gemini", 404, "NOT_FOUND", f"Unknown method {method!r} (mock).", request_id=None
            )
            return self._error(reply, self._gemini[GENERATE], "")
        request.path_params["model"] = model
        if self.arrivals is None:
            return await self._complete(request, wire)
        return await self._recorded(request, wire)

    async def _list_gemini_models(self, request: Request) -> Response:
        return await self._list_models(request, self._gemini[GENERATE])

    async def _list_models(self, request: Request, wire: WireFormat | None = None) -> Response:
        self.stats.count_request(request.url.path)
        headers = request.headers
        if wire is None:
            wire = (
                self._anthropic
                if "anthropic-version" in headers or "x-api-key" in headers
                else self._openai
            )
        request_id = _request_id(next(self._serials))
        denied = self._check_auth(headers, wire, request_id)
        if denied is not None:
            return self._error(denied, wire, request_id)
        names = sorted(wire.models) if wire.models is not None else DEFAULT_MODELS
        self.stats.by_status[200] += 1
        return Response(dumps(wire.model_listing(names)), media_type="application/json")

    # -- the completion pipeline ---------------------------------------------------------

    async def _recorded(self, request: Request, wire: WireFormat) -> Response:
        """The pipeline below, its arrival and outcome recorded."""
        arrivals = self.arrivals
        assert arrivals is not None
        arrival = arrivals.open(request.headers)
        response = await self._complete(request, wire, arrival)
        arrivals.close(arrival, response.status_code)
        return response

    async def _complete(
        self, request: Request, wire: WireFormat, arrival: Arrival | None = None
    ) -> Response:
        stats = self.stats
        headers = request.headers
        idempotency_key = headers.get("idempotency-key")
        stats.count_request(request.url.path, idempotency_key)
        serial = next(self._serials)
        request_id = _request_id(serial)

        denied = self._check_auth(headers, wire, request_id)
        if denied is not None:
            return self._error(denied, wire, request_id)
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            reply = wire.invalid("The body is not a JSON object.", None, request_id)
            return self._error(reply, wire, request_id)
        body = wire.bind(body, request.path_params)

        model = body.get("model")
        try:
            fault, window = self._choose_fault(headers, model if isinstance(model, str) else None)
        except ValueError as exc:
            return self._error(wire.invalid(str(exc), FAULT_HEADER, request_id), wire, request_id)
        if fault is not None:
            stats.by_fault[fault] += 1
            if fault in STATUS_FAULTS:
                retry_after_s = window.retry_after_s if window is not None else None
                reply = wire.fault_reply(fault, request_id, retry_after_s)
                return self._error(reply, wire, request_id)

        job = wire.parse(body, serial, request_id, idempotency_key)
        if isinstance(job, ErrorReply):
            return self._error(job, wire, request_id)
        records = self.idempotency
        if idempotency_key is None or records is None or job.stream:
            return await self._admit_and_answer(job, fault, wire, request, None, arrival)
        found = await records.claim(idempotency_key, body_digest(raw))
        if isinstance(found, bytes):
            stats.count_replay(idempotency_key)
            stats.by_status[200] += 1
            return Response(
                found, headers=wire.response_headers(request_id), media_type="application/json"
            )
        if not isinstance(found, Claim):
            reply = wire.invalid(
                "This Idempotency-Key was already used for a different request body.",
                "idempotency-key",
                request_id,
            )
            return self._error(reply, wire, request_id)
        try:
            return await self._admit_and_answer(job, fault, wire, request, found, arrival)
        finally:
            records.release(idempotency_key, found)

    async def _admit_and_answer(
        self,
        job: MockJob,
        fault: FaultKind | None,
        wire: WireFormat,
        request: Request,
        claim: Claim | None,
        arrival: Arrival | None = None,
    ) -> Response:
        """Steps 6 and 7 of the pipeline: admission checks, then the answer."""
        if arrival is not None:
            arrival.job = job
        request_id = job.request_id
        stats = self.stats
        for check in self.admission_checks:
            refused = check(job)
            if refused is not None:
                return self._error(refused, wire, request_id)
        if fault == "stream_error" and not job.stream:
            return self._error(wire.fault_reply(fault, request_id), wire, request_id)

        if fault == "hang":
            outcome = await self._hangs.wait(self.config.hang_s, request.receive)
            if outcome == "disconnected":
                stats.by_status[499] += 1
                return Response(status_code=499)  # nginx's "client closed request"
            if outcome == "aborted":
                return self._error(wire.shutting_down(request_id), wire, request_id)
        return await self._answer(job, fault, wire, claim)

    async def _answer(
        self, job: MockJob, fault: FaultKind | None, wire: WireFormat, claim: Claim | None = None
    ) -> Response:
        """The 200 answer, after ``latency_s``: streamed, or plain after the summed
        per-token latency; damaged by a body fault."""
        config = self.config
        if config.latency_s > 0:
            await anyio.sleep(config.latency_s)
        response_headers = wire.response_headers(job.request_id)
        if self.rate_limits is not None:
            response_headers.update(self.rate_limits.headers(job))
        if job.stream:
            self.stats.by_status[200] += 1
            events = paced_events(
                wire.stream(job, fault),
                job,
                fault,
                config.fault_after_pieces,
                config.per_token_latency_s,
                self._succeeded,
            )
            return EventStreamResponse(events, headers=response_headers)

        if config.per_token_latency_s > 0:
            await anyio.sleep(config.per_token_latency_s * job.output_tokens)
        rendered = wire.render(job)
        self.stats.by_status[200] += 1
        if fault == "cut_stream":
            return CutResponse(rendered[: len(rendered) // 2], response_headers)
        if fault == "malformed":
            return Response(
                rendered[: len(rendered) // 2],
                headers=response_headers,
                media_type="application/json",
            )
        self._succeeded(job)
        if claim is not None:
            claim.answer = rendered
        return Response(rendered, headers=response_headers, media_type="application/json")

    # -- what the batch routes use (:class:`~.mock_batch_http.BatchHost`) -------------------

    def batch_stats(self) -> BatchStats:
        return self.stats.batches

    def now(self) -> float:
        return self._clock.now()

    async def open_request(self, request: Request, wire: WireFormat, label: str) -> str | Response:
        """Steps 1, 2 and 4 of the pipeline for a batch route: the request id to answer
        with, or the error to answer instead."""
        self.stats.count_request(label)
        request_id = _request_id(next(self._serials))
        denied = self._check_auth(request.headers, wire, request_id)
        if denied is not None:
            return self._error(denied, wire, request_id)
        try:
            fault, window = self._choose_fault(request.headers, None)
        except ValueError as exc:
            return self._error(wire.invalid(str(exc), FAULT_HEADER, request_id), wire, request_id)
        if fault in STATUS_FAULTS:
            self.stats.by_fault[fault] += 1
            retry_after_s = window.retry_after_s if window is not None else None
            reply = wire.fault_reply(fault, request_id, retry_after_s)
            return self._error(reply, wire, request_id)
        return request_id

    def error(self, reply: ErrorReply, wire: WireFormat, request_id: str) -> Response:
        return self._error(reply, wire, request_id)

    def json(self, payload: Any, wire: WireFormat, request_id: str) -> Response:
        self.stats.by_status[200] += 1
        return Response(
            dumps(payload), headers=wire.response_headers(request_id), media_type="application/json"
        )

    def stream(
        self, pieces: AsyncIterator[bytes], wire: WireFormat, request_id: str, media_type: str
    ) -> Response:
        self.stats.by_status[200] += 1
        return StreamingResponse(
            pieces, headers=wire.response_headers(request_id), media_type=media_type
        )

    # -- helpers -------------------------------------------------------------------------

    def _check_auth(self, headers: Headers, wire: WireFormat, request_id: str) -> ErrorReply | None:
        key = self.config.require_api_key
        if key is None:
            return None
        bearer = headers.get("authorization")
        if _same_secret(bearer, f"Bearer {key}"):
            return None
        key_header = wire.key_header
        if key_header is not None:
            presented = headers.get(key_header)
            if _same_secret(presented, key):
                return None
            bearer = bearer if bearer is not None else presented
        return wire.auth_error(bearer is not None, request_id)

    def _error(self, reply: ErrorReply, wire: WireFormat, request_id: str) -> Response:
        self.stats.by_status[reply.status] += 1
        headers = dict(reply.headers)
        if not reply.gateway:
            headers = {**wire.response_headers(request_id), **headers}
        return Response(reply.body, reply.status, headers=headers, media_type=reply.media_type)

    def _check_limit_req(self, job: MockJob) -> ErrorReply | None:
        """The nginx-like limiter as an admission check, counting its refusals."""
        assert self.limit_req is not None
        refused = self.limit_req.check(job)
        if refused is not None:
            self.stats.limited += 1
        return refused

    def _succeeded(self, job: MockJob) -> None:
        self.stats.count_success(job.input_tokens, job.output_tokens, job.idempotency_key)


_WINDOW_FIELDS = frozenset({"start_s", "end_s", "kind", "model", "retry_after_s"})


def _windows(specs: Any) -> list[FaultWindow]:
    """The ``windows`` of a ``POST /_mock/reset`` body (ValueError naming what is wrong)."""
    if not isinstance(specs, list):
        raise ValueError("windows must be a list of objects")
    windows: list[FaultWindow] = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise ValueError(f"windows[{i}] must be an object")
        unknown = sorted(set(spec) - _WINDOW_FIELDS)
        if unknown:
            raise ValueError(f"windows[{i}] has unknown fields {unknown}")
        missing = sorted({"start_s", "kind"} - set(spec))
        if missing:
            raise ValueError(f"windows[{i}] needs {missing}")
        try:
            windows.append(FaultWindow(**{"end_s": None, **spec}))
        except ValueError as exc:
            raise ValueError(f"windows[{i}]: {exc}") from None
    return windows


def _request_id(serial: int) -> str:
    return f"req_mock{serial:016x}"


def _same_secret(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def create_app(config: MockConfig | None = None) -> MockApp:
    """A new mock server app (an ASGI callable) with its own stats and fault state."""
    return MockApp(config)
