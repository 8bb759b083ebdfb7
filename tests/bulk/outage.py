"""A fake OpenAI-compatible server for bulk-run tests: it answers from the client's
(virtual) clock, failing every request while the clock is inside an outage window, and
counts what it was sent per line id."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from sluicegate import Client, ProviderSettings
from sluicegate.clock import Clock
from sluicegate.logs import get_logger
from sluicegate.testing import openai_completion
from sluicegate.transports.base import HttpRequest, HttpResponse

BASE_URL = "http://outage.test/v1"
KEY = "sk-outage-test-0123456789abcdef"
QUIET = get_logger(level="critical")


@dataclass
class OutageServer:
    """A transport: inside ``[start, end)`` of ``clock`` every request to a model in
    ``models`` (all when empty) gets ``status`` with ``headers``; otherwise an answer.
    ``poison`` ids always get a 500."""

    clock: Clock
    start: float
    end: float
    status: int = 503
    headers: Mapping[str, str] = field(default_factory=dict)
    models: frozenset[str] = frozenset()
    poison: frozenset[str] = frozenset()
    latency: float = 0.05
    sent: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    name: str = "outage"

    async def send(self, request: HttpRequest) -> HttpResponse:
        body = json.loads(request.body)
        line_id = body["messages"][-1]["content"].split()[-1]
        self.sent[line_id] += 1
        await self.clock.sleep(self.latency)
        now = self.clock.now()
        down = self.start <= now < self.end and (not self.models or body["model"] in self.models)
        if down or line_id in self.poison:
            self.failed += 1
            status = 500 if line_id in self.poison and not down else self.status
            kind = "rate_limit_exceeded" if status == 429 else "server_error"
            error = {"error": {"message": f"fake {status}", "type": kind, "code": kind}}
            headers = {"content-type": "application/json", **self.headers}
            return HttpResponse(status, headers, json.dumps(error).encode())
        self.answered[line_id] += 1
        answer = openai_completion(f"answer to {line_id}")
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps(answer).encode())

    async def open_stream(self, request: HttpRequest) -> object:
        raise NotImplementedError("bulk runs do not stream")

    async def aclose(self) -> None:
        pass


def outage_client(server: OutageServer, clock: Clock, **settings: object) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url=BASE_URL, api_key=KEY)},
        transport=server,  # type: ignore[arg-type]
        clock=clock,
        load_entry_points=False,
        logger=QUIET,
        concurrency=8,
        **settings,  # type: ignore[arg-type]
    )
