"""Anthropic's Message Batches API on the mock server.

Routes (shapes as the real API and the anthropic SDK's types have them)
    ``POST /v1/messages/batches`` (``{"requests": [{"custom_id", "params"}]}``),
    ``GET /v1/messages/batches`` (``before_id``, ``after_id``, ``limit``),
    ``GET /v1/messages/batches/{id}``, ``POST /v1/messages/batches/{id}/cancel``,
    ``GET /v1/messages/batches/{id}/results`` (JSONL, streamed),
    ``DELETE /v1/messages/batches/{id}``.

Checked when the batch is created, answered at once as the real API does: the body
(413 ``request_too_large`` over ``MockConfig.anthropic_batch_max_bytes``), the number
of requests (400 over ``anthropic_batch_max_requests``), each ``custom_id`` (1 to 64 of
``[a-zA-Z0-9_-]``, unique) and that each ``params`` is an object. The params themselves
are checked while the batch "runs": one the live endpoint would refuse ends ``errored``
with that same error, as the real API reports it.

Results (made again from the stored params at each download, in request order)
    ``{"custom_id", "result": {"type": "succeeded", "message": <the message a live call
    returns>}}``, ``{"type": "errored", "error": {"type": "error", "error": {"type",
    "message"}, "request_id"}}``, ``{"type": "canceled"}``, ``{"type": "expired"}``.
    ``request_counts`` stay ``processing`` until the batch has ended, as documented.

Cancelling a batch that ended any other way is a 400; cancelling one that is canceling
or was cancelled returns it unchanged. Deleting one that has not ended is a 400.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio.lowlevel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sluicegate.testing.faults import ErrorReply, provider_error
from sluicegate.testing.mock_anthropic import AnthropicWire
from sluicegate.testing.mock_batch_http import BatchHost, BodyTooLarge, int_param, read_capped
from sluicegate.testing.mock_batch_items import BatchItems, Outcome, iter_jsonl, job_fails
from sluicegate.testing.mock_batch_jobs import (
    BATCH_OUTCOME_HEADER,
    BatchJob,
    BatchJobs,
    Phase,
    draw_outcomes,
    parse_job_mark,
    rfc3339,
)
from sluicegate.testing.mock_batch_timeline import Timeline
from sluicegate.testing.mock_files import CHUNK_BYTES
from sluicegate.testing.mock_json_members import MemberMissing, MemberNotArray, array_member
from sluicegate.testing.mock_openai_batch import item_request_id, item_serial
from sluicegate.testing.mock_wire import dumps

__all__ = ["CUSTOM_ID_PATTERN", "AnthropicBatchAPI"]

CUSTOM_ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")
"""What the real API accepts as a ``custom_id``."""

_YIELD_EVERY = 512
_DAY_S = 24 * 3600
_CANCELED = b'{"type":"canceled"}'
_EXPIRED = b'{"type":"expired"}'


class AnthropicBatchAPI:
    """The Message Batches routes, one instance per app."""

    def __init__(self, host: BatchHost, wire: AnthropicWire) -> None:
        self.host = host
        self.wire = wire
        self.jobs = BatchJobs(host.batch_stats, host.now)
        self._serials = itertools.count(1)
        self._ordinals = itertools.count(0)

    def routes(self) -> list[Route]:
        base = "/v1/messages/batches"
        return [
            Route(base, self.create_batch, methods=["POST"]),
            Route(base, self.list_batches, methods=["GET"]),
            Route(base + "/{batch_id}", self.retrieve_batch, methods=["GET"]),
            Route(base + "/{batch_id}", self.delete_batch, methods=["DELETE"]),
            Route(base + "/{batch_id}/cancel", self.cancel_batch, methods=["POST"]),
            Route(base + "/{batch_id}/results", self.results, methods=["GET"]),
        ]

    # -- helpers ---------------------------------------------------------------------------

    def _invalid(self, message: str, request_id: str, param: str | None = None) -> Response:
        return self.host.error(self.wire.invalid(message, param, request_id), self.wire, request_id)

    def _json(self, payload: Any, request_id: str) -> Response:
        return self.host.json(payload, self.wire, request_id)

    async def _open(self, request: Request, label: str) -> tuple[str, BatchJob | None] | Response:
        """The gate, then the batch the path names (None when the route has no id)."""
        opened = await self.host.open_request(request, self.wire, label)
        if isinstance(opened, Response):
            return opened
        batch_id = request.path_params.get("batch_id")
        if batch_id is None:
            return opened, None
        job = self.jobs.get(batch_id)
        if job is None:
            reply = provider_error(
                "anthropic",
                404,
                "not_found_error",
                f"No Message Batch found with id {batch_id!r}.",
                request_id=opened,
            )
            return self.host.error(reply, self.wire, opened)
        return opened, job

    # -- routes ------------------------------------------------------------------------------

    async def create_batch(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/messages/batches")
        if isinstance(opened, Response):
            return opened
        request_id = opened
        config = self.host.config
        try:
            raw = await read_capped(request, config.anthropic_batch_max_bytes)
        except BodyTooLarge:
            reply = provider_error(
                "anthropic",
                413,
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
                request_id=request_id,
            )
            return self.host.error(reply, self.wire, request_id)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._invalid("The body is not valid UTF-8.", request_id)
        del raw
        try:
            mark = parse_job_mark(request.headers.get(BATCH_OUTCOME_HEADER))
        except ValueError as exc:
            return self._invalid(str(exc), request_id, BATCH_OUTCOME_HEADER)
        serial = next(self._serials)
        try:
            checked = await self._check(array_member(text, "requests"), serial, request_id)
        except MemberMissing:
            return self._invalid("requests: Field required", request_id, "requests")
        except MemberNotArray:
            return self._invalid("requests: Input should be a valid list", request_id, "requests")
        except ValueError as exc:
            return self._invalid(f"The body is not valid JSON: {exc}", request_id)
        del text
        if isinstance(checked, Response):
            return checked
        items = checked
        ordinal = next(self._ordinals)
        if mark is None:
            failing = job_fails(config.batch_seed, "anthropic", ordinal, config.batch_failure_rate)
            mark = "fail" if failing else "ok"
        draw_outcomes(items, config, self.host.batch_stats(), "anthropic")
        job = BatchJob(
            provider="anthropic",
            id=f"msgbatch_mock{serial:016x}",
            serial=serial,
            created_clock=self.host.now(),
            created_wall=time.time(),
            timeline=Timeline(config.batch_seconds, len(items)),
            items=items,
            mark=mark,
        )
        stats = self.host.batch_stats()
        stats.created["anthropic"] += 1
        stats.items_submitted["anthropic"] += len(items)
        self.jobs.add(job)
        return self._json(self._render(job, self.jobs.elapsed(job), request), request_id)

    async def _check(
        self, requests: Iterator[Any], serial: int, request_id: str
    ) -> BatchItems | Response:
        """Validate every request as the real API does at creation, keep each ``params``
        as one compact JSON line, and note what its live call would answer. ``requests``
        is read one element at a time (and raises ValueError if the body is malformed)."""
        limit = self.host.config.anthropic_batch_max_requests
        lines: list[bytes] = []
        seen: set[str] = set()
        ids: list[str] = []
        answers: list[tuple[Outcome, int, int]] = []
        for index, entry in enumerate(requests):
            if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                await anyio.lowlevel.checkpoint()
            if index >= limit:
                return self._too_many(limit, f"more than {limit}", request_id)
            where = f"requests.{index}"
            if not isinstance(entry, dict):
                return self._invalid(f"{where}: Input should be a valid dictionary", request_id)
            custom_id = entry.get("custom_id")
            if not isinstance(custom_id, str) or CUSTOM_ID_PATTERN.fullmatch(custom_id) is None:
                return self._invalid(
                    f"{where}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'",
                    request_id,
                    f"{where}.custom_id",
                )
            if custom_id in seen:
                return self._invalid(
                    f"{where}.custom_id: {custom_id!r} is used by another request; each "
                    "custom_id must be unique within a Message Batch",
                    request_id,
                    f"{where}.custom_id",
                )
            seen.add(custom_id)
            params = entry.get("params")
            if not isinstance(params, dict):
                return self._invalid(
                    f"{where}.params: Input should be a valid dictionary",
                    request_id,
                    f"{where}.params",
                )
            parsed = self.wire.parse(
                params, item_serial(serial, index), item_request_id(serial, index), None
            )
            if isinstance(parsed, ErrorReply):
                answers.append((Outcome.INVALID, 0, 0))
            else:
                answers.append((Outcome.SUCCEEDED, parsed.input_tokens, parsed.output_tokens))
            ids.append(custom_id)
            lines.append(dumps(params).encode())
        if not lines:
            return self._too_many(limit, "0", request_id)
        items = BatchItems(b"\n".join(lines))
        for custom_id, (outcome, inputs, outputs) in zip(ids, answers, strict=True):
            items.add(custom_id, outcome, inputs, outputs)
        return items

    def _too_many(self, limit: int, got: str, request_id: str) -> Response:
        message = f"requests: a Message Batch holds 1 to {limit} requests, not {got}"
        return self._invalid(message, request_id, "requests")

    async def list_batches(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/messages/batches")
        if isinstance(opened, Response):
            return opened
        query = request.query_params
        limit = int_param(query.get("limit"), 20, 1, 1000)
        if limit is None:
            return self._invalid("limit: must be an integer from 1 to 1000", opened, "limit")
        jobs, more = self.jobs.page(query.get("after_id"), query.get("before_id"), limit)
        data = [self._render(job, self.jobs.elapsed(job), request) for job in jobs]
        return self._json(
            {
                "data": data,
                "has_more": more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            },
            opened,
        )

    async def retrieve_batch(self, request: Request) -> Response:
        opened = await self._open(request, "/v1/messages/batches/{batch_id}")
        if isinstance(opened, Response):
            return opened
        request_id, job = opened
        assert job is not None
        return self._json(self._render(job, self.jobs.elapsed(job), request), request_id)

    async def cancel_batch(self, request: Request) -> Response:
        opened = await self._open(request, "/v1/messages/batches/{batch_id}/cancel")
        if isinstance(opened, Response):
            return opened
        request_id, job = opened
        assert job is not None
        elapsed = self.jobs.elapsed(job)
        if job.cancelled_at is None:
            if job.phase(elapsed) is Phase.ENDED:
                return self._invalid(
                    f"Message Batch {job.id} has already ended and cannot be canceled.",
                    request_id,
                )
            job.cancelled_at = elapsed
            elapsed = self.jobs.elapsed(job)
        return self._json(self._render(job, elapsed, request), request_id)

    async def delete_batch(self, request: Request) -> Response:
        opened = await self._open(request, "/v1/messages/batches/{batch_id}")
        if isinstance(opened, Response):
            return opened
        request_id, job = opened
        assert job is not None
        if job.phase(self.jobs.elapsed(job)) is not Phase.ENDED:
            return self._invalid(
                f"Message Batch {job.id} is still processing; cancel it and wait for it to "
                "end before deleting it.",
                request_id,
            )
        self.jobs.remove(job.id)
        return self._json({"id": job.id, "type": "message_batch_deleted"}, request_id)

    async def results(self, request: Request) -> Response:
        opened = await self._open(request, "/v1/messages/batches/{batch_id}/results")
        if isinstance(opened, Response):
            return opened
        request_id, job = opened
        assert job is not None
        if job.phase(self.jobs.elapsed(job)) is not Phase.ENDED:
            return self._invalid(
                f"Message Batch {job.id} is still processing; its results are available "
                "once processing_status is 'ended'.",
                request_id,
            )
        return self.host.stream(
            self._result_lines(job), self.wire, request_id, "application/x-jsonl"
        )

    # -- shapes ------------------------------------------------------------------------------

    def _render(self, job: BatchJob, elapsed: float, request: Request) -> dict[str, Any]:
        phase = job.phase(elapsed)
        ended = phase is Phase.ENDED
        n = len(job.items)
        counts = {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            counts = self._final_counts(job)
        status = {Phase.ENDED: "ended", Phase.CANCELLING: "canceling"}.get(phase, "in_progress")
        origin = str(request.base_url).rstrip("/")
        return {
            "id": job.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": rfc3339(job.wall(job.ends_at())) if ended else None,
            "created_at": rfc3339(job.created_wall),
            "expires_at": rfc3339(job.wall(_DAY_S)),
            "archived_at": None,
            "cancel_initiated_at": (
                rfc3339(job.wall(job.cancelled_at)) if job.cancelled_at is not None else None
            ),
            "results_url": f"{origin}/v1/messages/batches/{job.id}/results" if ended else None,
        }

    @staticmethod
    def _final_counts(job: BatchJob) -> dict[str, int]:
        items = job.items
        done = job.processed(job.ends_at())
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if job.all_errored:
            counts["errored"] = done
        else:
            counts["succeeded"] = items.count(Outcome.SUCCEEDED, done)
            counts["errored"] = items.count(Outcome.FAILED, done) + items.count(
                Outcome.INVALID, done
            )
            counts["expired"] = items.count(Outcome.EXPIRED, done)
        counts[job.unprocessed_reason()] += len(items) - done
        return counts

    async def _result_lines(self, job: BatchJob) -> AsyncIterator[bytes]:
        items = job.items
        done = job.processed(job.ends_at())
        unprocessed = _CANCELED if job.unprocessed_reason() == "canceled" else _EXPIRED
        buffer = bytearray()
        for index, (_, line) in enumerate(iter_jsonl(items.raw)):
            result = self._result(job, index, line) if index < done else unprocessed
            buffer += b'{"custom_id":' + dumps(items.custom_ids[index]).encode()
            buffer += b',"result":' + result + b"}\n"
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
                await anyio.lowlevel.checkpoint()
        if buffer:
            yield bytes(buffer)

    def _result(self, job: BatchJob, index: int, line: bytes) -> bytes:
        """The ``result`` object of a processed item."""
        outcome = job.items.outcomes[index]
        request_id = item_request_id(job.serial, index)
        if outcome == Outcome.EXPIRED and not job.all_errored:
            return _EXPIRED
        if job.all_errored or outcome == Outcome.FAILED:
            why = "the batch failed" if job.all_errored else "mock batch item"
            reply = provider_error(
                "anthropic",
                500,
                "api_error",
                f"Internal server error ({why}).",
                request_id=request_id,
            )
            return b'{"type":"errored","error":' + reply.body + b"}"
        parsed = self.wire.parse(json.loads(line), item_serial(job.serial, index), request_id, None)
        if isinstance(parsed, ErrorReply):
            return b'{"type":"errored","error":' + parsed.body + b"}"
        return b'{"type":"succeeded","message":' + self.wire.render(parsed) + b"}"
