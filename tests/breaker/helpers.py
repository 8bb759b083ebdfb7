"""Helpers for the breaker and fallback stage tests.

- :class:`ModelTransport` is a :class:`~sluicegate.testing.ScriptedTransport` that answers
  each request by the model named in its body, from a script per model (the last answer
  repeats), can hold answers behind a gate to test concurrency, and records which models
  were sent.
- :func:`make_rig` builds a client whose chain holds only the stages under test (every
  other registered stage is disabled, so these tests do not change meaning when the retry,
  rate-limit or idempotency stages land), with a fake clock.
- :class:`CountingRetry` is a minimal stand-in for the retry stage: it retries retryable
  errors immediately, up to a number of attempts, and counts them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from sluicegate import Client, MiddlewareSpec, Phase, ProviderSettings, SluicegateError
from sluicegate.breaker import stage as breaker_stage
from sluicegate.breaker.stage import BreakerStage
from sluicegate.breaker.state import CircuitBreaker
from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.clock import FakeClock
from sluicegate.middleware import fallback as fallback_stage
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse
from sluicegate.transports.base import HttpRequest, TransportFailure
from sluicegate.types import Request

KEY = "sk-test-0123456789abcdefghijklmnop"
PROVIDERS = {
    "openai": ProviderSettings(api_key=KEY, base_url="http://127.0.0.1:9/v1"),
    "backup": ProviderSettings(kind="openai", api_key=KEY, base_url="http://127.0.0.1:9/b1"),
}

Scripted = Answer | BaseException


def ok(text: str = "hi") -> Answer:
    return Answer.json(200, openai_completion(text))


def error(status: int, code: str | None = None, message: str = "scripted") -> Answer:
    return Answer.json(status, {"error": {"message": message, "type": "x", "code": code}})


def stream_ok(*texts: str) -> Answer:
    return Answer(200, {"content-type": "text/event-stream"}, openai_sse(list(texts or ["hi"])))


def stream_error_event(message: str = "overloaded") -> Answer:
    """A 200 stream whose first event is an error: a retryable failure before any event."""
    body = {"error": {"message": message, "type": "server_error", "code": "overloaded"}}
    return Answer(
        200, {"content-type": "text/event-stream"}, [f"data: {json.dumps(body)}\n\n".encode()]
    )


def cut() -> TransportFailure:
    return TransportFailure("read", "cut by script")


class ModelTransport(ScriptedTransport):
    """Answers by model (the body's ``model`` field): ``scripts[model]`` is a list whose
    items are used in turn, the last one repeating; an exception item is raised."""

    name = "by-model"

    def __init__(
        self,
        scripts: Mapping[str, Sequence[Scripted]],
        *,
        clock: FakeClock | None = None,
        delay: float = 0.0,
    ) -> None:
        super().__init__(self._by_model, clock=clock)
        self.scripts = {model: list(items) for model, items in scripts.items()}
        self.sent: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.gate: anyio.Event | None = None
        self._next_holds: list[anyio.Event] = []
        self.waiting = 0
        self.delay = delay

    def hold(self) -> anyio.Event:
        """From now on, answers wait until the returned event is set."""
        self.gate = anyio.Event()
        return self.gate

    def hold_next(self) -> anyio.Event:
        """Only the next request's answer waits until the returned event is set."""
        event = anyio.Event()
        self._next_holds.append(event)
        return event

    def count(self, model: str) -> int:
        return self.sent.count(model)

    async def _by_model(self, request: HttpRequest) -> Answer:
        body = json.loads(request.body)
        model = body["model"]
        self.sent.append(model)
        self.bodies.append(body)
        gate = self._next_holds.pop(0) if self._next_holds else self.gate
        if gate is not None:
            self.waiting += 1
            try:
                await gate.wait()
            finally:
                self.waiting -= 1
        if self.delay and self.clock is not None:
            await self.clock.sleep(self.delay)
        items = self.scripts[model]
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, BaseException):
            raise item
        return item


class CountingRetry:
    """Retries retryable errors at once, up to ``attempts`` tries, counting every try."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self.tries: list[str] = []

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        for attempt in range(1, self.attempts + 1):
            self.tries.append(request.model)
            try:
                return await call_next(
                    request.replace(metadata=request.metadata.replace(attempt=attempt))
                )
            except SluicegateError as exc:
                if not exc.retryable or attempt == self.attempts:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Rig:
    """A client with only the stages under test, and what it was built with."""

    client: Client
    transport: ModelTransport
    clock: FakeClock
    built: dict[str, Any] = field(default_factory=dict)

    @property
    def breakers(self) -> BreakerStage:
        stage = self.built.get("breaker")
        assert isinstance(stage, BreakerStage), "the breaker stage was not built"
        return stage

    def breaker(self, model: str) -> CircuitBreaker:
        return self.breakers.breakers[model]

    async def send(self, request: Request) -> Reply:
        """Send through the chain as it is (a stream comes back as an EventStream)."""
        return await self.client._require_open()(request)


def make_rig(
    transport: ModelTransport,
    clock: FakeClock | None = None,
    *,
    breaker: Any = None,
    fallback: Any = None,
    retry: CountingRetry | None = None,
) -> Rig:
    """A client over ``transport`` with only fallback, retry (if given), breaker and auth,
    every other registered stage disabled. ``breaker``/``fallback`` are the stages'
    settings (a policy, None for defaults, False for off)."""
    clock = clock or FakeClock()
    built: dict[str, Any] = {}

    def capture(name: str, build: Callable[[ChainContext], Any]) -> Callable[[ChainContext], Any]:
        def factory(context: ChainContext) -> Any:
            stage = build(context)
            built[name] = stage
            return stage

        return factory

    ours = [
        MiddlewareSpec("fallback", Phase.FALLBACK, capture("fallback", fallback_stage.build)),
        MiddlewareSpec("breaker", Phase.BREAKER, capture("breaker", breaker_stage.build)),
    ]
    if retry is not None:
        ours.append(MiddlewareSpec("test-retry", Phase.RETRY, lambda _: retry))
    registered = Client(providers=PROVIDERS, load_entry_points=False).plugins.middleware
    others = {spec.name for spec in registered} - {"auth"} - {spec.name for spec in ours}
    client = Client(
        providers=PROVIDERS,
        transport=transport,
        load_entry_points=False,
        middleware=ours,
        disable=others,
        stage_settings={"breaker": breaker, "fallback": fallback},
        clock=clock,
    )
    return Rig(client, transport, clock, built)


def request_for(model: str, *, fallbacks: Sequence[str] = (), stream: bool = False) -> Request:
    """A request as the client would build it once it passes ``fallbacks=`` through."""
    from sluicegate.types import Message, Metadata, new_request_id

    return Request(
        model=model,
        messages=(Message(role="user", content="hi"),),
        metadata=Metadata(request_id=new_request_id(), fallbacks=tuple(fallbacks)),
        stream=stream,
    )
