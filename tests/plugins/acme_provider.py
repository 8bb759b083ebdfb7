"""A third-party provider plugin, written as its author would: against ``sluicegate.plugins``
and ``sluicegate`` only (tests/plugins/test_third_party_provider.py checks the imports).

"Acme" is a made-up wire format unlike OpenAI's: ``POST {base}/generate`` with
``{"model", "prompt", "stream"}``, its own ``acme-version`` header, an answer
``{"output", "tokens": {"in", "out"}}``, and a stream of ``delta`` / ``usage`` / ``end``
SSE events. The codec writes the URL, the body and ``acme-version``, nothing else: no key,
no ``Idempotency-Key``, no caller header. Those are sluicegate's to add.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sluicegate import (
    FinishEvent,
    ProviderError,
    Request,
    Response,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
)
from sluicegate.plugins import (
    CredentialHeader,
    HttpRequest,
    HttpResponse,
    ProviderSpec,
    SSEEvent,
    error_for_status,
    excerpt,
    hookimpl,
)

ACME_VERSION = "2025-01"


class AcmeCodec:
    """Encodes the body, the URL and ``acme-version``; decodes answers, errors, streams.
    Built as ``ProviderSpec.factory`` calls it: ``(name, base_url, configured headers)``."""

    def __init__(self, name: str, base_url: str, headers: Mapping[str, str]) -> None:
        self.name = name
        self._url = base_url.rstrip("/") + "/generate"
        self._headers = {"content-type": "application/json", "acme-version": ACME_VERSION}
        self._headers.update(headers)

    def encode(self, request: Request) -> HttpRequest:
        prompt = "\n".join(str(m.content) for m in request.messages)
        body = {"model": request.model_name, "prompt": prompt, "stream": request.stream}
        return HttpRequest("POST", self._url, self._headers, json.dumps(body).encode())

    def decode(self, request: Request, response: HttpResponse) -> Response:
        data: dict[str, Any] = json.loads(response.body)
        tokens = data.get("tokens", {})
        return Response(
            text=data["output"],
            model=request.model,
            provider=self.name,
            finish_reason="stop",
            usage=Usage(input_tokens=tokens.get("in", 0), output_tokens=tokens.get("out", 0)),
            request_id=request.metadata.request_id,
        )

    def decode_error(self, request: Request, response: HttpResponse) -> ProviderError:
        return error_for_status(
            provider=self.name,
            model=request.model_name,
            status=response.status,
            headers=response.headers,
            message=excerpt(response.body),
            error_type=None,
        )

    def stream_decoder(self, request: Request) -> AcmeStreamDecoder:
        return AcmeStreamDecoder()


class AcmeStreamDecoder:
    """``delta`` events carry text, ``usage`` the counts, ``end`` closes the stream."""

    def __init__(self) -> None:
        self.finished = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        if event.event == "end":
            self.finished = True
            return [FinishEvent("stop")]
        data = json.loads(event.data)
        if event.event == "usage":
            return [UsageEvent(Usage(input_tokens=data["in"], output_tokens=data["out"]))]
        return [TextDelta(data["text"])]


SPEC = ProviderSpec(
    name="acme",
    factory=AcmeCodec,
    default_base_url="https://api.acme.invalid/v1",
    api_key_env="ACME_API_KEY",
    description="Acme's generate API (a test plugin); the key as Authorization: Bearer",
)
"""Takes the default ``credential_header``: ``Authorization: Bearer <key>``."""

RAW_KEY_SPEC = ProviderSpec(
    name="acme-raw",
    factory=AcmeCodec,
    default_base_url="https://raw.acme.invalid/v1",
    api_key_env="ACME_RAW_API_KEY",
    credential_header=CredentialHeader("X-Acme-Key", scheme=None),
    description="the same wire format, with the bare key in its own header",
)


@hookimpl
def sluicegate_providers() -> Sequence[ProviderSpec]:
    return [SPEC, RAW_KEY_SPEC]
