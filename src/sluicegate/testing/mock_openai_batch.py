"""OpenAI's Files and Batch APIs on the mock server, for ``/v1/chat/completions`` jobs.

Routes (shapes as the real API and the openai SDK's types have them)
    ``POST /v1/files`` (multipart: ``file``, ``purpose``), ``GET /v1/files`` (``purpose``,
    ``limit``, ``after``, ``order``), ``GET /v1/files/{id}``, ``DELETE /v1/files/{id}``,
    ``GET /v1/files/{id}/content`` (streamed); ``POST /v1/batches`` (``input_file_id``,
    ``endpoint``, ``completion_window`` "24h", ``metadata``), ``GET /v1/batches``
    (``after``, ``limit``), ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``.

Validation, when the batch is created (it is reported the real way: the batch is
created ``validating`` and then ``failed``, with ``errors.data`` entries ``{code, line,
message, param}``): ``file_too_large`` (over ``MockConfig.openai_batch_max_bytes``),
``too_many_tasks`` (over ``openai_batch_max_requests``), ``empty_file``, and per line
``invalid_json_line``, ``missing_required_parameter`` (custom_id, body),
``duplicate_custom_id``, ``invalid_method`` (not POST), ``url_mismatch`` (not the
batch's endpoint), ``model_mismatch`` (every line must use one model). A request body
the live endpoint would refuse (no messages, a bad max_tokens...) does not fail the
batch: that line gets the live 400 in the error file, as the real API does.

Results (made again from the input at each download, in input order)
    Output file lines ``{"id": "batch_req_...", "custom_id", "response": {"status_code":
    200, "request_id", "body": <the chat completion a live call returns>}, "error":
    null}``. Error file lines: a failed request as ``{"response": {"status_code": 400 or
    500, "request_id", "body": {"error": {...}}}, "error": null}``; an expired or
    cancelled one as ``{"response": null, "error": {"code": "batch_expired" |
    "batch_cancelled", "message"}}``. ``request_counts`` grow while the batch runs; at
    the end ``completed`` counts output lines and ``failed`` error lines.

Cancelling a batch that already ended any other way is a 409; cancelling one that is
cancelling or cancelled returns it unchanged.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.lowlevel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sluicegate.testing.faults import ErrorReply, provider_error
from sluicegate.testing.mock_batch_http import BatchHost, BodyTooLarge, int_param, read_capped
from sluicegate.testing.mock_batch_items import BatchItems, Outcome, iter_jsonl, job_fails
from sluicegate.testing.mock_batch_jobs import (
    BATCH_OUTCOME_HEADER,
    BatchJob,
    BatchJobs,
    JobEnd,
    Phase,
    draw_outcomes,
    parse_job_mark,
)
from sluicegate.testing.mock_batch_timeline import Timeline
from sluicegate.testing.mock_files import CHUNK_BYTES, FileStore, StoredFile
from sluicegate.testing.mock_multipart import MultipartError, boundary_of, parse_form
from sluicegate.testing.mock_openai import OpenAIWire
from sluicegate.testing.mock_wire import dumps

__all__ = ["BATCH_ENDPOINT", "OpenAIBatchAPI", "item_request_id", "item_serial"]

BATCH_ENDPOINT = "/v1/chat/completions"
"""The one endpoint the mock runs batches for."""

FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
"""Purposes an upload may name."""

UPLOAD_MAX_BYTES = 512 * 1024 * 1024
"""The Files API's own limit on one upload (the batch limit is checked later)."""

MAX_LISTED_ERRORS = 100
"""A rejected batch lists at most this many input errors."""

_YIELD_EVERY = 512  # lines scanned between checkpoints, so a big scan does not stall the loop
_DAY_S = 24 * 3600

_EXPIRED = {
    "code": "batch_expired",
    "message": "This request could not be executed before the completion window expired.",
}
_CANCELLED = {
    "code": "batch_cancelled",
    "message": "This request was not executed because the batch was cancelled.",
}


def item_serial(job_serial: int, index: int) -> int:
    """The serial a batch item's answer ids are made from (unique across the app's
    batches, and the same at every download)."""
    return (job_serial << 32) | index


def item_request_id(job_serial: int, index: int) -> str:
    return f"req_mockbatch{job_serial:08x}{index:08x}"


def _line_error(
    code: str, message: str, line: int | None, param: str | None = None
) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


class OpenAIBatchAPI:
    """The Files and Batch routes, one instance per app."""

    def __init__(self, host: BatchHost, wire: OpenAIWire) -> None:
        self.host = host
        self.wire = wire
        self.files = FileStore()
        self.jobs = BatchJobs(host.batch_stats, host.now)
        self.jobs.on_end = self._make_result_files
        self._serials = itertools.count(1)
        self._ordinals = itertools.count(0)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/files", self.upload_file, methods=["POST"]),
            Route("/v1/files", self.list_files, methods=["GET"]),
            Route("/v1/files/{file_id}", self.retrieve_file, methods=["GET"]),
            Route("/v1/files/{file_id}", self.delete_file, methods=["DELETE"]),
            Route("/v1/files/{file_id}/content", self.file_content, methods=["GET"]),
            Route("/v1/batches", self.create_batch, methods=["POST"]),
            Route("/v1/batches", self.list_batches, methods=["GET"]),
            Route("/v1/batches/{batch_id}", self.retrieve_batch, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self.cancel_batch, methods=["POST"]),
        ]

    # -- helpers ---------------------------------------------------------------------------

    def _invalid(self, message: str, param: str | None, request_id: str) -> Response:
        return self.host.error(self.wire.invalid(message, param, request_id), self.wire, request_id)

    def _not_found(self, message: str, param: str | None, request_id: str) -> Response:
        reply = provider_error("openai", 404, "invalid_request_error", message, param=param)
        return self.host.error(reply, self.wire, request_id)

    def _json(self, payload: Any, request_id: str) -> Response:
        return self.host.json(payload, self.wire, request_id)

    # -- files -------------------------------------------------------------------------------

    async def upload_file(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/files")
        if isinstance(opened, Response):
            return opened
        request_id = opened
        try:
            boundary = boundary_of(request.headers.get("content-type"))
            body = await read_capped(request, UPLOAD_MAX_BYTES)
            parts = parse_form(body, boundary)
        except MultipartError as exc:
            return self._invalid(str(exc), None, request_id)
        except BodyTooLarge:
            reply = provider_error(
                "openai",
                413,
                "invalid_request_error",
                f"File too large: an upload may hold at most {UPLOAD_MAX_BYTES} bytes.",
                param="file",
            )
            return self.host.error(reply, self.wire, request_id)
        del body
        file_part = next((p for p in parts if p.name == "file"), None)
        purpose_part = next((p for p in parts if p.name == "purpose"), None)
        if file_part is None:
            return self._invalid("Missing required parameter: 'file'.", "file", request_id)
        if purpose_part is None:
            return self._invalid("Missing required parameter: 'purpose'.", "purpose", request_id)
        purpose = purpose_part.data.decode("utf-8", "replace")
        if purpose not in FILE_PURPOSES:
            return self._invalid(
                f"'{purpose}' is not one of {list(FILE_PURPOSES)} - 'purpose'",
                "purpose",
                request_id,
            )
        stored = StoredFile(
            id=f"file-mock{next(self._serials):016x}",
            filename=file_part.filename or "upload",
            purpose=purpose,
            created_at=int(time.time()),
            data=file_part.data,
        )
        self.files.add(stored)
        self.host.batch_stats().files_uploaded += 1
        return self._json(await stored.as_json(), request_id)

    async def list_files(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/files")
        if isinstance(opened, Response):
            return opened
        query = request.query_params
        limit = int_param(query.get("limit"), 10_000, 1, 10_000)
        if limit is None:
            return self._invalid("limit must be an integer from 1 to 10000", "limit", opened)
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            return self._invalid("order must be 'asc' or 'desc'", "order", opened)
        self._refresh()
        files, more = self.files.page(
            query.get("purpose"), query.get("after"), limit, newest_first=order == "desc"
        )
        data = [await f.as_json() for f in files]
        return self._json(_listing(data, more), opened)

    async def retrieve_file(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/files/{file_id}")
        if isinstance(opened, Response):
            return opened
        stored = self._file(request)
        if stored is None:
            return self._no_file(request, opened)
        return self._json(await stored.as_json(), opened)

    async def delete_file(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/files/{file_id}")
        if isinstance(opened, Response):
            return opened
        file_id = request.path_params["file_id"]
        self._refresh()
        if not self.files.delete(file_id):
            return self._no_file(request, opened)
        return self._json({"id": file_id, "object": "file", "deleted": True}, opened)

    async def file_content(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/files/{file_id}/content")
        if isinstance(opened, Response):
            return opened
        stored = self._file(request)
        if stored is None:
            return self._no_file(request, opened)
        return self.host.stream(stored.content(), self.wire, opened, "application/octet-stream")

    def _file(self, request: Request) -> StoredFile | None:
        self._refresh()  # a batch that just ended makes its files now
        return self.files.get(request.path_params["file_id"])

    def _no_file(self, request: Request, request_id: str) -> Response:
        file_id = request.path_params["file_id"]
        return self._not_found(f"No such File object: {file_id}", "id", request_id)

    def _refresh(self) -> None:
        self.jobs.refresh()

    # -- batches -----------------------------------------------------------------------------

    async def create_batch(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/batches")
        if isinstance(opened, Response):
            return opened
        request_id = opened
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._invalid("The body is not a JSON object.", None, request_id)
        input_file_id = body.get("input_file_id")
        if not isinstance(input_file_id, str) or not input_file_id:
            return self._invalid(
                "Missing required parameter: 'input_file_id'.", "input_file_id", request_id
            )
        endpoint = body.get("endpoint")
        if endpoint != BATCH_ENDPOINT:
            return self._invalid(
                f"Invalid value for 'endpoint': {endpoint!r}; the mock runs batches for "
                f"{BATCH_ENDPOINT} only.",
                "endpoint",
                request_id,
            )
        if body.get("completion_window") != "24h":
            return self._invalid(
                "Invalid value for 'completion_window': only '24h' is supported.",
                "completion_window",
                request_id,
            )
        metadata = body.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and len(metadata) <= 16
            and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        ):
            return self._invalid(
                "metadata must be an object of at most 16 string values.", "metadata", request_id
            )
        try:
            mark = parse_job_mark(request.headers.get(BATCH_OUTCOME_HEADER))
        except ValueError as exc:
            return self._invalid(str(exc), BATCH_OUTCOME_HEADER, request_id)
        stored = self.files.get(input_file_id)
        if stored is None:
            return self._not_found(
                f"No such File object: {input_file_id}", "input_file_id", request_id
            )
        if stored.purpose != "batch" or stored.data is None:
            return self._invalid(
                "The input file must be uploaded with purpose 'batch'.", "input_file_id", request_id
            )

        config = self.host.config
        ordinal = next(self._ordinals)
        if mark is None:
            failing = job_fails(config.batch_seed, "openai", ordinal, config.batch_failure_rate)
            mark = "fail" if failing else "ok"
        serial = next(self._serials)
        items, rejected, model = await self._scan(stored.data, serial)
        job = BatchJob(
            provider="openai",
            id=f"batch_mock{serial:016x}",
            serial=serial,
            created_clock=self.host.now(),
            created_wall=time.time(),
            timeline=Timeline(config.batch_seconds, len(items)),
            items=items,
            mark=mark,
            rejected=rejected,
            model=model,
            details={
                "endpoint": endpoint,
                "input_file_id": input_file_id,
                "completion_window": "24h",
                "metadata": metadata,
            },
        )
        stats = self.host.batch_stats()
        stats.created["openai"] += 1
        stats.items_submitted["openai"] += len(items)
        self.jobs.add(job)
        return self._json(self._render(job, self.jobs.elapsed(job)), request_id)

    async def list_batches(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/batches")
        if isinstance(opened, Response):
            return opened
        limit = int_param(request.query_params.get("limit"), 20, 1, 100)
        if limit is None:
            return self._invalid("limit must be an integer from 1 to 100", "limit", opened)
        jobs, more = self.jobs.page(request.query_params.get("after"), None, limit)
        data = [self._render(job, self.jobs.elapsed(job)) for job in jobs]
        return self._json(_listing(data, more), opened)

    async def retrieve_batch(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/batches/{batch_id}")
        if isinstance(opened, Response):
            return opened
        job = self.jobs.get(request.path_params["batch_id"])
        if job is None:
            return self._no_batch(request, opened)
        return self._json(self._render(job, self.jobs.elapsed(job)), opened)

    async def cancel_batch(self, request: Request) -> Response:
        opened = await self.host.open_request(request, self.wire, "/v1/batches/{batch_id}/cancel")
        if isinstance(opened, Response):
            return opened
        job = self.jobs.get(request.path_params["batch_id"])
        if job is None:
            return self._no_batch(request, opened)
        elapsed = self.jobs.elapsed(job)
        if job.cancelled_at is None:
            if job.phase(elapsed) is Phase.ENDED:
                status = job.end().value
                reply = provider_error(
                    "openai",
                    409,
                    "invalid_request_error",
                    f"Cannot cancel a batch with status '{status}'.",
                )
                return self.host.error(reply, self.wire, opened)
            job.cancelled_at = elapsed
            elapsed = self.jobs.elapsed(job)  # settles it at once if cancelling takes no time
        return self._json(self._render(job, elapsed), opened)

    def _no_batch(self, request: Request, request_id: str) -> Response:
        batch_id = request.path_params["batch_id"]
        return self._not_found(f"No batch found with id '{batch_id}'.", "batch_id", request_id)

    # -- validation --------------------------------------------------------------------------

    async def _scan(
        self, raw: bytes, serial: int
    ) -> tuple[BatchItems, list[dict[str, Any]] | None, str | None]:
        """Check every line of an input file as the real validation does and decide each
        item's outcome: the items, or the errors that fail the batch, and the model."""
        config = self.host.config
        items = BatchItems(raw)
        if len(raw) > config.openai_batch_max_bytes:
            message = (
                f"The batch input file is {len(raw)} bytes; a batch may hold at most "
                f"{config.openai_batch_max_bytes} bytes."
            )
            return BatchItems(raw), [_line_error("file_too_large", message, None)], None
        limit = config.openai_batch_max_requests
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        model: str | None = None
        count = 0
        for number, line in iter_jsonl(raw):
            count += 1
            if count % _YIELD_EVERY == 0:
                await anyio.lowlevel.checkpoint()
            if count > limit or len(errors) >= MAX_LISTED_ERRORS:
                continue  # only counting now
            problem, custom_id, body = _check_line(line, number, seen)
            if problem is None and isinstance(body.get("model"), str):
                if model is None:
                    model = body["model"]
                elif body["model"] != model:
                    problem = _line_error(
                        "model_mismatch",
                        f"The model {body['model']!r} differs from the model {model!r} of "
                        "the other requests; a batch uses one model.",
                        number,
                        "body.model",
                    )
            if problem is not None:
                errors.append(problem)
                continue
            if errors:
                continue  # the batch fails anyway; no need to answer the rest
            index = len(items)
            parsed = self.wire.parse(
                body, item_serial(serial, index), item_request_id(serial, index), None
            )
            if isinstance(parsed, ErrorReply):
                items.add(custom_id, Outcome.INVALID, 0, 0)
            else:
                items.add(custom_id, Outcome.SUCCEEDED, parsed.input_tokens, parsed.output_tokens)
        if count > limit:
            message = (
                f"The batch input file holds {count} requests; a batch may hold at most "
                f"{limit} requests."
            )
            errors.insert(0, _line_error("too_many_tasks", message, None))
        elif count == 0:
            message = "The batch input file is empty. A batch needs at least one request."
            errors.append(_line_error("empty_file", message, None))
        if errors:
            return BatchItems(raw), errors[:MAX_LISTED_ERRORS], model
        draw_outcomes(items, self.host.config, self.host.batch_stats(), "openai")
        return items, None, model

    # -- the batch object --------------------------------------------------------------------

    def _render(self, job: BatchJob, elapsed: float) -> dict[str, Any]:
        timeline = job.timeline
        phase = job.phase(elapsed)
        ended = phase is Phase.ENDED
        end = job.end()
        status = end.value if ended else phase.value
        n = len(job.items)

        def at(moment: float) -> int:
            return int(job.wall(moment))

        started = (
            not job.fails_early
            and elapsed >= timeline.validated_at
            and (job.cancelled_at is None or job.cancelled_at >= timeline.validated_at)
        )
        done = job.processed(elapsed)
        succeeded = job.items.count(Outcome.SUCCEEDED, done)
        if job.fails_early:
            counts = {"total": 0 if job.rejected else n, "completed": 0, "failed": 0}
        else:
            failed = n - succeeded if ended else done - succeeded
            counts = {"total": n, "completed": succeeded, "failed": failed}
        errors = None
        if ended and end is JobEnd.FAILED:
            data = job.rejected or [_token_limit_error(job.model)]
            errors = {"object": "list", "data": data}
        inputs, outputs = (0, 0)
        if ended and not job.fails_early:
            inputs, outputs = _usage_of(job)
        return {
            "id": job.id,
            "object": "batch",
            "endpoint": job.details["endpoint"],
            "model": job.model,
            "errors": errors,
            "input_file_id": job.details["input_file_id"],
            "completion_window": job.details["completion_window"],
            "status": status,
            "output_file_id": job.output_file_id,
            "error_file_id": job.error_file_id,
            "created_at": at(0.0),
            "in_progress_at": at(timeline.validated_at) if started else None,
            "expires_at": at(_DAY_S),
            "finalizing_at": (
                at(timeline.processed_at)
                if status in ("finalizing", "completed") and job.cancelled_at is None
                else None
            ),
            "completed_at": at(job.ends_at()) if ended and end is JobEnd.COMPLETED else None,
            "failed_at": at(job.ends_at()) if ended and end is JobEnd.FAILED else None,
            "expired_at": at(job.ends_at()) if ended and end is JobEnd.EXPIRED else None,
            "cancelling_at": at(job.cancelled_at) if job.cancelled_at is not None else None,
            "cancelled_at": at(job.ends_at()) if ended and end is JobEnd.CANCELLED else None,
            "request_counts": counts,
            "metadata": job.details["metadata"],
            "usage": {
                "input_tokens": inputs,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": outputs,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": inputs + outputs,
            },
        }

    # -- result files ------------------------------------------------------------------------

    def _make_result_files(self, job: BatchJob, elapsed: float) -> None:
        """When a job ends: register its output and error files (made on download)."""
        if job.fails_early:
            return
        done = job.processed(job.ends_at())
        succeeded = job.items.count(Outcome.SUCCEEDED, done)
        created = int(job.wall(job.ends_at()))
        if succeeded:
            job.output_file_id = self._result_file(job, "output", created)
        if len(job.items) - succeeded:
            job.error_file_id = self._result_file(job, "error", created)

    def _result_file(self, job: BatchJob, kind: str, created: int) -> str:
        file_id = f"file-mock{next(self._serials):016x}"

        def recipe() -> AsyncIterator[bytes]:
            return self._result_lines(job, kind == "output")

        self.files.add(
            StoredFile(
                id=file_id,
                filename=f"{job.id}_{kind}.jsonl",
                purpose="batch_output",
                created_at=created,
                recipe=recipe,
            )
        )
        return file_id

    async def _result_lines(self, job: BatchJob, output: bool) -> AsyncIterator[bytes]:
        """The output file (``output``) or the error file, in pieces of about
        :data:`CHUNK_BYTES`, made from the input line by line."""
        items = job.items
        done = job.processed(job.ends_at())
        unprocessed = _CANCELLED if job.unprocessed_reason() == "canceled" else _EXPIRED
        created = int(job.wall(job.ends_at()))
        buffer = bytearray()
        for index, (_, line) in enumerate(iter_jsonl(items.raw)):
            succeeded = index < done and items.outcomes[index] == Outcome.SUCCEEDED
            if succeeded != output:
                continue
            head = _line_head(job, index, items.custom_ids[index])
            if index >= done:
                buffer += head + b'"response":null,"error":' + dumps(unprocessed).encode()
            else:
                buffer += head + self._answered(job, index, line, created)
            buffer += b"}\n"
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
                await anyio.lowlevel.checkpoint()
        if buffer:
            yield bytes(buffer)

    def _answered(self, job: BatchJob, index: int, line: bytes, created: int) -> bytes:
        """The ``"response"`` and ``"error"`` members of a processed item's line."""
        outcome = job.items.outcomes[index]
        request_id = item_request_id(job.serial, index)
        if outcome == Outcome.EXPIRED:
            return b'"response":null,"error":' + dumps(_EXPIRED).encode()
        if outcome == Outcome.FAILED:
            reply = provider_error(
                "openai",
                500,
                "server_error",
                "The server had an error while processing your request (mock batch item).",
            )
            status, body = reply.status, reply.body
        else:
            parsed = self.wire.parse(
                json.loads(line)["body"], item_serial(job.serial, index), request_id, None
            )
            if isinstance(parsed, ErrorReply):
                status, body = parsed.status, parsed.body
            else:
                status, body = 200, self.wire.render(parsed, created)
        return (
            b'"response":{"status_code":'
            + str(status).encode()
            + b',"request_id":"'
            + request_id.encode()
            + b'","body":'
            + body
            + b'},"error":null'
        )


def _check_line(
    line: bytes, number: int, seen: set[str]
) -> tuple[dict[str, Any] | None, str, dict[str, Any]]:
    """The error a line fails validation with (None if it passes), its custom_id and
    its body."""
    try:
        request = json.loads(line)
    except ValueError:
        request = None
    if not isinstance(request, dict):
        message = "This line is not parseable as valid JSON."
        return _line_error("invalid_json_line", message, number), "", {}
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        message = "Missing required parameter: 'custom_id'."
        return _line_error("missing_required_parameter", message, number, "custom_id"), "", {}
    if custom_id in seen:
        message = (
            f"The custom_id {custom_id!r} is a duplicate of another request. The "
            "custom_id parameter must be unique for each individual request in a batch."
        )
        return _line_error("duplicate_custom_id", message, number, "custom_id"), custom_id, {}
    seen.add(custom_id)
    if request.get("method") != "POST":
        message = "Invalid value for 'method': only POST is supported."
        return _line_error("invalid_method", message, number, "method"), custom_id, {}
    if request.get("url") != BATCH_ENDPOINT:
        message = "The URL provided for this request does not match the batch endpoint."
        return _line_error("url_mismatch", message, number, "url"), custom_id, {}
    body = request.get("body")
    if not isinstance(body, dict):
        message = "Missing required parameter: 'body'."
        return _line_error("missing_required_parameter", message, number, "body"), custom_id, {}
    return None, custom_id, body


def _line_head(job: BatchJob, index: int, custom_id: str) -> bytes:
    return (
        b'{"id":"batch_req_mock'
        + f"{job.serial:08x}{index:08x}".encode()
        + b'","custom_id":'
        + dumps(custom_id).encode()
        + b","
    )


def _token_limit_error(model: str | None) -> dict[str, Any]:
    """The error of a batch that fails as a whole (the real API's usual reason)."""
    return _line_error(
        "token_limit_exceeded",
        f"Enqueued token limit reached for {model or 'this model'} in organization "
        "org-mock. Please try again once some in_progress batches have been completed.",
        None,
    )


def _usage_of(job: BatchJob) -> tuple[int, int]:
    if job.usage is None:
        job.usage = job.items.tokens_of_succeeded(job.processed(job.ends_at()))
    return job.usage


def _listing(data: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": more,
    }
