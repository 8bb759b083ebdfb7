"""Helpers for the retry and deadline tests.

- :class:`ClockedTransport` is a :class:`~sluicegate.testing.ScriptedTransport` on a (fake)
  clock, with the waits between its requests; an ``Answer(hang=True)`` never comes, and
  one with chunks stops in the middle of a stream, for deadline tests.
- :func:`make_client` builds a client with the stages under test on a fake clock and a
  seeded rng; other resilience stages (breaker, rate limit, idempotency...) are disabled by
  name so these tests keep their meaning when those stages land in the default chain.
- :func:`jumping` runs a coroutine with the fake clock's autojump beside it and hands back
  its result or raises its error as is (not wrapped in an exception group).
- :class:`Spy` is a middleware that records the requests passing a point of the chain.
- :class:`CountingClock` counts clock reads, to show the hot path makes none.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from sluicegate import Client, MiddlewareSpec, Phase, ProviderSettings
from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.clock import Clock, FakeClock
from sluicegate.middleware import deadline as deadline_stage
from sluicegate.retry import stage as retry_stage
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse
from sluicegate.testing.scripted import Step
from sluicegate.types import Request

T = TypeVar("T")

KEY = "sk-test-0123456789abcdefghijklmnop"
PROVIDERS = {"openai": ProviderSettings(api_key=KEY, base_url="http://127.0.0.1:9/v1")}
DEADLINE_PHASE = Phase.DEADLINE
OTHER_STAGES = ("breaker", "fallback", "rate_limit", "idempotency", "cost")


def ok(text: str = "hi") -> Answer:
    return Answer.json(200, openai_completion(text))


def error(status: int, code: str | None = None, headers: dict[str, str] | None = None) -> Answer:
    body = {"error": {"message": "scripted", "type": "x", "code": code}}
    return Answer.json(status, body, headers)


def stream_ok(*texts: str) -> Answer:
    return Answer(200, {"content-type": "text/event-stream"}, openai_sse(list(texts or ["hi"])))


def stream_error_event(code: str = "overloaded") -> Answer:
    """A 200 stream whose first event is an error event."""
    body = {"error": {"message": "busy", "type": "server_error", "code": code}}
    chunk = f"data: {json.dumps(body)}\n\n".encode()
    return Answer(200, {"content-type": "text/event-stream"}, [chunk])


def stream_cut_after(*texts: str) -> Answer:
    """A 200 stream that delivers ``texts`` and is then cut."""
    return Answer(200, {}, openai_sse(list(texts), done=False)[: len(texts)], cut=True)


class ClockedTransport(ScriptedTransport):
    """A scripted transport on ``clock``: it notes when each request arrived (``times``)
    and can take ``latency`` on that clock before each answer."""

    def __init__(
        self,
        clock: Clock,
        *script: Step,
        latency: float = 0.0,
    ) -> None:
        super().__init__(*script, clock=clock, latency=latency)

    @property
    def waits(self) -> list[float]:
        """The time between consecutive requests."""
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


class Spy:
    """Records every request that passes this point of the chain."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        self.requests.append(request)
        return await call_next(request)

    def spec(self, name: str, phase: int) -> MiddlewareSpec:
        return MiddlewareSpec(name, phase, lambda context: self)


class CountingClock(FakeClock):
    """A fake clock that counts how often it is read."""

    def __init__(self, start: float = 1_000.0) -> None:
        super().__init__(start)
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return super().now()


def stage_specs() -> list[MiddlewareSpec]:
    """The stages under test, as the built-in plugin will register them."""
    return [
        MiddlewareSpec("deadline", DEADLINE_PHASE, deadline_stage.build),
        MiddlewareSpec("retry", Phase.RETRY, retry_stage.build),
    ]


def make_client(
    transport: ScriptedTransport,
    clock: Clock,
    *,
    retry: Any = None,
    deadline: Any = None,
    extra: list[MiddlewareSpec] | None = None,
    seed: int = 7,
    **kwargs: Any,
) -> Client:
    import random

    settings: dict[str, Any] = {"retry": retry, "deadline": deadline}
    return Client(
        providers=PROVIDERS,
        transport=transport,
        load_entry_points=False,
        middleware=[*stage_specs(), *(extra or [])],
        disable=OTHER_STAGES,
        stage_settings=settings,
        clock=clock,
        rng=random.Random(seed),
        **kwargs,
    )


async def jumping(clock: FakeClock, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work()`` with ``clock`` jumping over every sleep; its result or its error."""
    results: list[T] = []
    errors: list[BaseException] = []
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        try:
            results.append(await work())
        except Exception as exc:
            errors.append(exc)
        group.cancel_scope.cancel()
    if errors:
        raise errors[0]
    return results[0]


def stage_of(context_settings: dict[str, Any], clock: Clock) -> Any:
    """Build the retry stage alone from settings (for unit tests of the factory)."""
    from sluicegate.observers import Observers

    context = ChainContext(
        providers={}, observers=Observers(), settings=context_settings, clock=clock
    )
    return retry_stage.build(context)
