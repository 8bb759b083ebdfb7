"""Anthropic's Message Batches API as a sluicegate batch API.

The calls, as the API reference has them (paths under the host root, like the codec's):

- ``POST /v1/messages/batches`` ``{"requests": [{"custom_id", "params"}, ...]}`` → a
  Message Batch (``processing_status`` ``in_progress``);
- ``GET /v1/messages/batches/{id}``, ``POST /v1/messages/batches/{id}/cancel``,
  ``GET /v1/messages/batches?limit=N``;
- the batch's ``results_url`` (``/v1/messages/batches/{id}/results``) once it has
  ``ended``: JSONL lines ``{"custom_id", "result": {"type": "succeeded", "message"} |
  {"type": "errored", "error": {"type": "error", "error": {"type", "message"}}} |
  {"type": "canceled"} | {"type": "expired"}}``.

``params`` is exactly the body the codec sends live (:func:`encode_body`), so a batch
answer is decoded by the same codec into the same Response; an ``errored`` result into the
same typed error a live call would have raised (its HTTP status restored from the error
type). ``canceled`` and ``expired`` become :class:`~sluicegate.BatchItemError`.

States: ``in_progress`` is running, ``canceling`` cancelling, and ``ended`` completed, or
cancelled when a cancel was asked for (``cancel_initiated_at``). Request counts stay
``processing`` until the batch ends (as documented), so a job's progress moves at its end.

Limits: 100,000 requests or 256 MB of request body per batch; custom ids must match
``[a-zA-Z0-9_-]{1,64}``, so other ids are sent as a stable digest (:meth:`custom_id`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sluicegate import (
    BatchItemError,
    BatchJob,
    JobState,
    Metadata,
    ProviderError,
    Request,
    ResponseFormatError,
)
from sluicegate.plugins import (
    BatchBinding,
    BatchHttp,
    BatchOutcome,
    HttpResponse,
    JobCounts,
    LineResults,
    RequestLookup,
    malformed_answer,
)
from sluicegate_anthropic.request import encode_body
from sluicegate_anthropic.wire import API_VERSION, dumps

__all__ = ["AnthropicBatchApi", "parse_message_batch"]

BATCHES_PATH = "/v1/messages/batches"
_NEWLINES_TO_COMMAS = bytes.maketrans(b"\n", b",")

CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
"""The custom ids the API accepts."""

ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""The HTTP status each error type comes with live (Anthropic's errors page), so an
``errored`` item gets the typed error and retryability a live call would."""


def _time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_message_batch(provider: str, data: Any) -> BatchJob:
    """A Message Batch object as a :class:`BatchJob`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        raise ResponseFormatError(
            f"not a message batch object: {str(data)[:200]!r}",
            provider=provider,
            model="messages/batches",
        )
    status = str(data.get("processing_status") or "")
    cancelled = bool(data.get("cancel_initiated_at"))
    if status == "ended":
        state = JobState.CANCELLED if cancelled else JobState.COMPLETED
    elif status == "canceling":
        state = JobState.CANCELLING
    else:
        state = JobState.RUNNING
    counts = data.get("request_counts") or {}
    succeeded = int(counts.get("succeeded") or 0)
    failed = sum(int(counts.get(k) or 0) for k in ("errored", "canceled", "expired"))
    total = succeeded + failed + int(counts.get("processing") or 0)
    return BatchJob(
        id=data["id"],
        provider=provider,
        state=state,
        counts=JobCounts(total=total, succeeded=succeeded, failed=failed),
        status=status,
        created_at=_time(data.get("created_at")),
        ended_at=_time(data.get("ended_at")),
        raw=dict(data),
    )


class AnthropicBatchApi:
    """The Message Batches API of one configured Anthropic provider."""

    def __init__(self, binding: BatchBinding) -> None:
        bound = binding.bound
        self.provider = bound.name
        self.limits = binding.limits
        self._codec = bound.codec
        self._root = bound.base_url.rstrip("/")
        self._url = self._root + BATCHES_PATH
        self._http = BatchHttp(binding, {"anthropic-version": API_VERSION})

    def __repr__(self) -> str:
        return f"<AnthropicBatchApi provider={self.provider!r} url={self._url!r}>"

    # -- items ----------------------------------------------------------------------------

    def custom_id(self, caller_id: str) -> str:
        if CUSTOM_ID.fullmatch(caller_id):
            return caller_id
        return "sg_" + hashlib.blake2b(caller_id.encode(), digest_size=20).hexdigest()

    def group_key(self, request: Request) -> str:
        return ""  # one batch may mix models

    def encode_item(self, custom_id: str, request: Request) -> bytes:
        params = dumps(encode_body(request)).encode()
        return b'{"custom_id":' + dumps(custom_id).encode() + b',"params":' + params + b"}"

    # -- jobs -----------------------------------------------------------------------------

    async def create(self, items: bytes | bytearray, count: int) -> BatchJob:
        # Each item ends in a newline, and JSON text holds no raw newline: turned into
        # commas, they separate the items of the array (the last one is dropped).
        separated = items.translate(_NEWLINES_TO_COMMAS)
        body = b"".join((b'{"requests":[', memoryview(separated)[:-1], b"]}"))
        del separated
        answer = await self._http.call(
            "POST",
            self._url,
            body=body,
            headers={"content-type": "application/json"},
            what="messages/batches",
            replay_safe=False,
        )
        return self._job(answer)

    async def retrieve(self, job_id: str) -> BatchJob:
        answer = await self._http.call(
            "GET", f"{self._url}/{job_id}", what=f"messages/batches/{job_id}"
        )
        return self._job(answer)

    async def cancel(self, job_id: str) -> BatchJob:
        answer = await self._http.call(
            "POST", f"{self._url}/{job_id}/cancel", what=f"messages/batches/{job_id}"
        )
        return self._job(answer)

    async def list(self, limit: int = 20) -> list[BatchJob]:
        answer = await self._http.call(
            "GET", f"{self._url}?limit={max(1, min(limit, 1000))}", what="messages/batches"
        )
        data = self._json(answer)
        items = data.get("data") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            raise self._malformed(answer)
        return [parse_message_batch(self.provider, item) for item in items]

    def results(self, job: BatchJob, lookup: RequestLookup | None = None) -> LineResults:
        url = job.raw.get("results_url")
        if not isinstance(url, str) or not url:
            urls: list[str] = []
        elif url.startswith(self._root + "/"):
            urls = [url]
        elif url.startswith("/"):
            urls = [self._root + url]
        else:
            # The URL names the API's own host; the results are fetched through the
            # configured base URL (a gateway, the mock server) under the same path.
            path = url.split("://", 1)[-1].partition("/")[2]
            urls = [f"{self._root}/{path}"]
        return LineResults(
            self._http,
            urls,
            lambda raw: self.decode_line(raw, lookup, job.id),
            "messages/batches/results",
        )

    # -- decoding -------------------------------------------------------------------------

    def decode_line(
        self, raw: bytes, lookup: RequestLookup | None, job_id: str = ""
    ) -> BatchOutcome | None:
        """One line of a results file as an outcome (None: not a result line)."""
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply
            return None
        if not isinstance(line, Mapping) or not isinstance(line.get("custom_id"), str):
            return None
        custom_id: str = line["custom_id"]
        result = line.get("result")
        if not isinstance(result, Mapping):
            result = {}
        kind = result.get("type")
        request = lookup(custom_id) if lookup is not None else None
        if request is None:
            message = result.get("message")
            model = message.get("model") if isinstance(message, Mapping) else None
            request = Request(
                model=f"{self.provider}/{model or 'unknown'}",
                messages=(),
                metadata=Metadata(caller_id=custom_id),
            )
        if kind == "succeeded":
            http = HttpResponse(200, {}, dumps(result.get("message")).encode())
            try:
                return BatchOutcome(custom_id, self._codec.decode(request, http), None)
            except ProviderError as exc:
                return BatchOutcome(custom_id, None, exc)
        if kind == "errored":
            body = result.get("error")
            inner = body.get("error") if isinstance(body, Mapping) else None
            error_type = inner.get("type") if isinstance(inner, Mapping) else None
            status = ERROR_STATUS.get(str(error_type), 500)
            headers = {}
            if isinstance(body, Mapping) and isinstance(body.get("request_id"), str):
                headers["request-id"] = body["request_id"]
            http = HttpResponse(status, headers, dumps(body).encode())
            return BatchOutcome(custom_id, None, self._codec.decode_error(request, http))
        if kind in ("canceled", "expired"):
            what = "was canceled" if kind == "canceled" else "expired"
            return BatchOutcome(
                custom_id,
                None,
                BatchItemError(
                    f"the message batch {what} before this request was processed",
                    job_id=job_id,
                    provider=self.provider,
                    model=request.model_name,
                    error_type=str(kind),
                    retryable=True,
                ),
            )
        return BatchOutcome(
            custom_id,
            None,
            ResponseFormatError(
                f"batch result of unknown type {kind!r}: {raw[:200]!r}",
                provider=self.provider,
                model=request.model_name,
                retryable=True,
            ),
        )

    def _job(self, answer: HttpResponse) -> BatchJob:
        return parse_message_batch(self.provider, self._json(answer))

    def _json(self, answer: HttpResponse) -> Any:
        try:
            return json.loads(answer.body)
        except ValueError:
            raise self._malformed(answer) from None

    def _malformed(self, answer: HttpResponse) -> ResponseFormatError:
        return malformed_answer(
            provider=self.provider,
            model="messages/batches",
            what="message batch answer",
            exc=ValueError("unexpected shape"),
            body=answer.body,
            status=answer.status,
        )
