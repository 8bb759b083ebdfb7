"""OpenAI's Batch API: the input file through the Files API, a batch over it, its output
and error files streamed back.

Used for the ``openai`` kind (and so every compatible server added with
``ProviderSettings(kind="openai")`` that implements it) and for the ``mock`` provider,
which speaks OpenAI's wire format to sluicegate's mock server.

The calls, as the API reference has them (paths relative to the base URL, which ends in
``/v1``):

- ``POST /files`` (multipart: ``purpose=batch``, ``file``) → a File object (``id``);
- ``POST /batches`` ``{"input_file_id", "endpoint": "/v1/chat/completions",
  "completion_window": "24h"}`` → a Batch;
- ``GET /batches/{id}``, ``POST /batches/{id}/cancel``, ``GET /batches?limit=N``;
- ``GET /files/{id}/content`` for ``output_file_id`` and ``error_file_id``.

An input line is ``{"custom_id", "method": "POST", "url": "/v1/chat/completions",
"body"}``, the body being exactly what the chat codec sends live. An output line is
``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``: a
2xx body is decoded by the chat codec into the same Response a live call gives, another
status into the same typed error; ``error`` (``batch_expired``, ``batch_cancelled``,
``request_timeout``) becomes a :class:`~sluicegate.errors.BatchItemError`.

Limits: 50,000 requests and 200 MB of input file per batch; one model per batch (the
input is grouped by model before it is split).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluicegate.batch.api import (
    BatchBinding,
    BatchJob,
    BatchOutcome,
    JobCounts,
    JobState,
    RequestLookup,
)
from sluicegate.batch.http import BatchHttp, LineResults, dumps, loads
from sluicegate.batch.multipart import multipart_body

# the limits live with the specs (registered without importing this module); re-exported
from sluicegate.batch.openai_spec import MOCK_LIMITS, OPENAI_LIMITS
from sluicegate.errors import BatchItemError, ProviderError, ResponseFormatError
from sluicegate.providers.http_errors import malformed_answer
from sluicegate.transports.base import HttpResponse
from sluicegate.types import Metadata, Request

__all__ = ["MOCK_LIMITS", "OPENAI_LIMITS", "OpenAIBatchApi", "parse_batch"]

ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"


_STATES: Mapping[str, JobState] = {
    "validating": JobState.VALIDATING,
    "in_progress": JobState.RUNNING,
    "finalizing": JobState.FINALIZING,
    "completed": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "expired": JobState.EXPIRED,
    "cancelling": JobState.CANCELLING,
    "cancelled": JobState.CANCELLED,
}

_ITEM_ERRORS: Mapping[str, str] = {"batch_expired": "expired", "batch_cancelled": "canceled"}
"""OpenAI's per-item error codes → sluicegate's ``BatchItemError.error_type`` words."""
_RETRYABLE_ITEM_CODES = frozenset({"batch_expired", "batch_cancelled", "request_timeout"})


def parse_batch(provider: str, data: Any) -> BatchJob:
    """A Batch object as a :class:`BatchJob` (raises ResponseFormatError if it is not one)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        raise ResponseFormatError(
            f"not a batch object: {str(data)[:200]!r}", provider=provider, model="batches"
        )
    status = str(data.get("status") or "")
    counts = data.get("request_counts") or {}
    errors = (data.get("errors") or {}).get("data") or ()
    ended = next(
        (
            data[k]
            for k in ("completed_at", "failed_at", "expired_at", "cancelled_at")
            if isinstance(data.get(k), int | float)
        ),
        None,
    )
    return BatchJob(
        id=data["id"],
        provider=provider,
        state=_STATES.get(status, JobState.RUNNING),
        counts=JobCounts(
            total=int(counts.get("total") or 0),
            succeeded=int(counts.get("completed") or 0),
            failed=int(counts.get("failed") or 0),
        ),
        status=status,
        created_at=float(data["created_at"])
        if isinstance(data.get("created_at"), int | float)
        else None,
        ended_at=float(ended) if ended is not None else None,
        errors=tuple(_job_error(e) for e in errors if isinstance(e, Mapping)),
        raw=dict(data),
    )


def _job_error(error: Mapping[str, Any]) -> str:
    code, message, line = error.get("code"), error.get("message") or "", error.get("line")
    where = f" (input line {line})" if line is not None else ""
    return f"{code}: {message}{where}" if code else f"{message}{where}"


class OpenAIBatchApi:
    """The Batch API of one configured OpenAI-format provider."""

    def __init__(self, binding: BatchBinding) -> None:
        bound = binding.bound
        self.provider = bound.name
        self.limits = binding.limits
        self._codec = bound.codec
        base = bound.base_url.rstrip("/")
        self._files_url = base + "/files"
        self._batches_url = base + "/batches"
        self._http = BatchHttp(binding, {})

    def __repr__(self) -> str:
        return f"<OpenAIBatchApi provider={self.provider!r} url={self._batches_url!r}>"

    # -- items ----------------------------------------------------------------------------

    def custom_id(self, caller_id: str) -> str:
        return caller_id

    def group_key(self, request: Request) -> str:
        return request.model_name

    def encode_item(self, custom_id: str, request: Request) -> bytes:
        body = self._codec.encode(request.replace(stream=False)).body
        return (
            b'{"custom_id":'
            + dumps(custom_id).encode()
            + b',"method":"POST","url":"'
            + ENDPOINT.encode()
            + b'","body":'
            + body
            + b"}"
        )

    # -- jobs -----------------------------------------------------------------------------

    async def create(self, items: bytes | bytearray, count: int) -> BatchJob:
        body, content_type = multipart_body(
            {"purpose": "batch"},
            name="file",
            filename="sluicegate-batch.jsonl",
            content_type="application/jsonl",
            data=items,
        )
        uploaded = await self._http.call(
            "POST",
            self._files_url,
            body=body,
            headers={"content-type": content_type},
            what="files",
        )
        file_id = self._field(uploaded, "id", "file upload")
        created = await self._http.call(
            "POST",
            self._batches_url,
            body=dumps(
                {
                    "input_file_id": file_id,
                    "endpoint": ENDPOINT,
                    "completion_window": COMPLETION_WINDOW,
                    "metadata": {"created_by": "sluicegate", "requests": str(count)},
                }
            ).encode(),
            headers={"content-type": "application/json"},
            what="batches",
            replay_safe=False,
        )
        return self._job(created)

    async def retrieve(self, job_id: str) -> BatchJob:
        answer = await self._http.call(
            "GET", f"{self._batches_url}/{job_id}", what=f"batches/{job_id}"
        )
        return self._job(answer)

    async def cancel(self, job_id: str) -> BatchJob:
        answer = await self._http.call(
            "POST", f"{self._batches_url}/{job_id}/cancel", what=f"batches/{job_id}"
        )
        return self._job(answer)

    async def list(self, limit: int = 20) -> list[BatchJob]:
        answer = await self._http.call(
            "GET", f"{self._batches_url}?limit={max(1, min(limit, 100))}", what="batches"
        )
        data = self._json(answer, "batch list")
        items = data.get("data") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            raise self._malformed("batch list", answer)
        return [parse_batch(self.provider, item) for item in items]

    def results(self, job: BatchJob, lookup: RequestLookup | None = None) -> LineResults:
        urls = [
            f"{self._files_url}/{file_id}/content"
            for file_id in (job.raw.get("output_file_id"), job.raw.get("error_file_id"))
            if isinstance(file_id, str) and file_id
        ]
        return LineResults(
            self._http, urls, lambda raw: self.decode_line(raw, lookup, job.id), "files"
        )

    # -- decoding -------------------------------------------------------------------------

    def decode_line(
        self, raw: bytes, lookup: RequestLookup | None, job_id: str = ""
    ) -> BatchOutcome | None:
        """One line of an output or error file as an outcome (None: not a result line)."""
        try:
            line = loads(raw)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply
            return None
        if not isinstance(line, Mapping) or not isinstance(line.get("custom_id"), str):
            return None
        custom_id: str = line["custom_id"]
        answer = line.get("response")
        body = answer.get("body") if isinstance(answer, Mapping) else None
        request = lookup(custom_id) if lookup is not None else None
        if request is None:
            model = body.get("model") if isinstance(body, Mapping) else None
            request = Request(
                model=f"{self.provider}/{model or 'unknown'}",
                messages=(),
                metadata=Metadata(caller_id=custom_id),
            )
        error = line.get("error")
        if isinstance(answer, Mapping) and isinstance(answer.get("status_code"), int):
            status: int = answer["status_code"]
            headers = {"x-request-id": str(answer.get("request_id") or "")}
            http = HttpResponse(status, headers, dumps(body).encode())
            if 200 <= status < 300:
                try:
                    return BatchOutcome(custom_id, self._codec.decode(request, http), None)
                except ProviderError as exc:
                    return BatchOutcome(custom_id, None, exc)
            return BatchOutcome(custom_id, None, self._codec.decode_error(request, http))
        if isinstance(error, Mapping):
            code = str(error.get("code") or "error")
            return BatchOutcome(
                custom_id,
                None,
                BatchItemError(
                    str(error.get("message") or code),
                    job_id=job_id,
                    provider=self.provider,
                    model=request.model_name,
                    error_type=_ITEM_ERRORS.get(code, code),
                    retryable=code in _RETRYABLE_ITEM_CODES,
                ),
            )
        return BatchOutcome(
            custom_id,
            None,
            ResponseFormatError(
                f"batch result line has neither a response nor an error: {raw[:200]!r}",
                provider=self.provider,
                model=request.model_name,
                retryable=True,
            ),
        )

    def _job(self, answer: HttpResponse) -> BatchJob:
        return parse_batch(self.provider, self._json(answer, "batch"))

    def _json(self, answer: HttpResponse, what: str) -> Any:
        try:
            return loads(answer.body)
        except ValueError:
            raise self._malformed(what, answer) from None

    def _field(self, answer: HttpResponse, name: str, what: str) -> str:
        data = self._json(answer, what)
        value = data.get(name) if isinstance(data, Mapping) else None
        if not isinstance(value, str) or not value:
            raise self._malformed(what, answer)
        return value

    def _malformed(self, what: str, answer: HttpResponse) -> ResponseFormatError:
        return malformed_answer(
            provider=self.provider,
            model="batches",
            what=what,
            exc=ValueError("unexpected shape"),
            body=answer.body,
            status=answer.status,
        )
