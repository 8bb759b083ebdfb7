"""Fallback stage: when a request's model cannot answer, ask the next model it names.

A request names fallbacks with ``client.chat(model, messages, fallbacks=[...])``
(``request.metadata.fallbacks``); they are tried in order, each as
``request.replace(model=fallback)``, until one answers. The response says which model
answered (``Response.model`` and ``Response.provider``).

The rule for moving on (:func:`should_fall_back`): the model's circuit is open
(:class:`~sluicegate.breaker.state.CircuitOpenError`), or the error is retryable, which, because
this stage sits outside retry, means the retries for that model are spent (or the retry
stage gave up early: budget, deadline). Errors that are not retryable (400, 401, 403, 404,
422, ``insufficient_quota``, a budget stop) are raised at once: the request or the account
is wrong, and another model would most likely fail the same way or, worse, quietly answer
a request the caller must fix. Such an error carries a note naming the models tried before.

When every model fails, :class:`AllModelsFailedError` names each one with its error.

Streams fall back too, as long as no text or tool-call delta has reached the caller: a
stream that fails before its first delta (an ``overloaded`` error event, say, even after
Anthropic's opening usage event) is closed and the next model's stream takes its place,
and its Done carries the next model's Response alone; after the first delta a failure is
raised as it is, since the caller has already seen part of one model's answer. The rule is
the retry stage's, so a stream error that retry could still replace is not made final here.

Without fallbacks the stage costs one attribute check and a plain await.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sluicegate.breaker import CircuitOpenError
from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.errors import ProviderError, SluicegateError
from sluicegate.middleware.idempotency import key_for_model
from sluicegate.stage_settings import stage_policy
from sluicegate.streaming import EventStream, ReplaceableSource
from sluicegate.types import Request


def should_fall_back(error: SluicegateError) -> bool:
    """The default rule: fall back on an open circuit or on a retryable error (whose
    retries, inside this stage, are spent); never on the caller's own mistakes."""
    return error.retryable or isinstance(error, CircuitOpenError)


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    """Configuration of the fallback stage: which errors move on to the next model."""

    should_fall_back: Callable[[SluicegateError], bool] = should_fall_back

    @classmethod
    def from_setting(cls, value: Any) -> FallbackPolicy | None:
        """Read ``stage_settings["fallback"]`` by the rules every stage shares
        (:func:`~sluicegate.stage_settings.stage_policy`); None: the stage is off."""
        return stage_policy("fallback", cls, value)


class AllModelsFailedError(ProviderError):
    """The request's model and every fallback failed; ``errors`` holds ``(model, error)``
    for each, in the order tried, and the message names them all.

    ``provider``/``model``/``status`` are the last model's. ``retryable`` is False: the
    chain already spent its retries on every model. ``retry_after`` is the soonest any of
    them said it may take requests again (an open circuit's break, a server's Retry-After),
    for a caller that wants to try the whole request later.
    """

    def __init__(self, errors: Sequence[tuple[str, SluicegateError]]) -> None:
        if not errors:
            raise ValueError("AllModelsFailedError needs at least one (model, error)")
        self.errors = tuple(errors)
        last_model, last = self.errors[-1]
        waits = [
            e.retry_after
            for _, e in self.errors
            if isinstance(e, ProviderError) and e.retry_after is not None
        ]
        self.provider, _, self.model = last_model.partition("/")
        self.status = last.status if isinstance(last, ProviderError) else None
        self.error_type = "all_models_failed"
        self.retryable = False
        self.retry_after = min(waits) if waits else None
        self.request_id = last.request_id if isinstance(last, ProviderError) else None
        tried = "; ".join(f"{model}: {_reason(error)}" for model, error in self.errors)
        self.detail = f"all {len(self.errors)} models failed ({tried})"
        # Not ProviderError.__init__: its "provider/model:" prefix would single out the
        # last model, while this error is about all of them.
        SluicegateError.__init__(self, self.detail)

    @property
    def models(self) -> tuple[str, ...]:
        """The models tried, in order."""
        return tuple(model for model, _ in self.errors)


def _reason(error: SluicegateError) -> str:
    """An error's message without the ``provider/model:`` prefix the summary already has."""
    if isinstance(error, ProviderError):
        status = f"HTTP {error.status} " if error.status is not None else ""
        kind = f"{error.error_type}: " if error.error_type else ""
        return f"{type(error).__name__}: {status}{kind}{error.detail}"
    return f"{type(error).__name__}: {error.message}"


def _models(request: Request) -> tuple[str, ...]:
    """The model, then each fallback, each once (a repeat would only fail the same way)."""
    return tuple(dict.fromkeys((request.model, *request.metadata.fallbacks)))


def _for_model(request: Request, model: str) -> Request:
    """The request sent to a fallback model, with that model's own idempotency key
    (:func:`~sluicegate.middleware.idempotency.key_for_model`)."""
    key = request.metadata.idempotency_key
    if key is None:
        return request.replace(model=model)
    return request.replace(
        model=model, metadata=request.metadata.replace(idempotency_key=key_for_model(key, model))
    )


class FallbackStage:
    """The middleware: try the request's model, then its fallbacks, by the rule above."""

    __slots__ = ("_should",)

    def __init__(self, policy: FallbackPolicy) -> None:
        self._should = policy.should_fall_back

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        if not request.metadata.fallbacks:
            return await call_next(request)
        models = _models(request)
        failed: list[tuple[str, SluicegateError]] = []
        reply, index = await self.first_answer(request, models, 0, failed, call_next)
        if isinstance(reply, EventStream):
            next_models = _NextModels(self, request, models, index, failed, call_next)
            return EventStream(ReplaceableSource(reply, next_models))
        return reply

    async def first_answer(
        self,
        request: Request,
        models: tuple[str, ...],
        start: int,
        failed: list[tuple[str, SluicegateError]],
        call_next: CallNext,
    ) -> tuple[Reply, int]:
        """The reply of the first model from ``models[start:]`` that answers, with its
        index; errors that warrant falling back are appended to ``failed``."""
        for index in range(start, len(models)):
            model = models[index]
            attempt = request if model == request.model else _for_model(request, model)
            try:
                return await call_next(attempt), index
            except SluicegateError as exc:
                self.handle(model, exc, failed)
        raise AllModelsFailedError(failed) from failed[-1][1]

    def handle(
        self, model: str, exc: SluicegateError, failed: list[tuple[str, SluicegateError]]
    ) -> None:
        """Note a fallback-worthy failure, or re-raise one that must not fall back."""
        if not self._should(exc):
            if failed:
                tried = ", ".join(f"{m} ({type(e).__name__})" for m, e in failed)
                exc.add_note(f"sluicegate: fell back to {model} after: {tried}")
            raise exc
        failed.append((model, exc))


class _NextModels:
    """The fallback stage's :class:`~sluicegate.streaming.StreamReplacement` for one
    streamed request: a stream failing before its first delta, by the stage's rule, is
    replaced by the next model's (:meth:`FallbackStage.first_answer`)."""

    __slots__ = ("_call_next", "_failed", "_index", "_models", "_request", "_stage")

    def __init__(
        self,
        stage: FallbackStage,
        request: Request,
        models: tuple[str, ...],
        index: int,
        failed: list[tuple[str, SluicegateError]],
        call_next: CallNext,
    ) -> None:
        self._stage = stage
        self._request = request
        self._models = models
        self._index = index
        self._failed = failed
        self._call_next = call_next

    @property
    def model(self) -> str:
        return self._models[self._index]

    def may_replace(self, error: SluicegateError) -> bool:
        self._stage.handle(self.model, error, self._failed)  # raises when it must not
        return True

    async def open_next(self, error: SluicegateError) -> Reply:
        reply, self._index = await self._stage.first_answer(
            self._request, self._models, self._index + 1, self._failed, self._call_next
        )
        return reply


def build(context: ChainContext) -> FallbackStage | None:
    """The fallback stage from ``settings["fallback"]`` (None → defaults, False → off)."""
    policy = FallbackPolicy.from_setting(context.settings.get("fallback"))
    return None if policy is None else FallbackStage(policy)
