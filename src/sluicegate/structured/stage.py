"""The structured stage: a call with ``response_format=`` gets its answer parsed and
checked, and the model is asked again, told what was wrong, until it fits or the re-asks
are spent.

Why a stage and not a helper around ``chat()``: it must sit *outside* the cost stage, so
each ask is priced, counted in the ledger and reserved against budgets as the request it
is (a re-ask is paid for), and *inside* the deadline, so the whole conversation spends
one ``total_timeout``. Retry, fallback and the breaker inside it treat every ask as a
logical request of its own; an ask that fails for a transport or provider reason fails
the call with that error, as a plain call would.

What a re-ask sends: the conversation so far, the model's answer as an assistant turn,
then the problems found, as a tool result when the answer came as a call of the schema's
tool (Anthropic's way to force JSON) or as a user turn otherwise. A caller-given
``idempotency_key`` names the logical request; each re-ask is a different body, so it
goes with ``"<key>:ask<N>"`` (the first ask keeps the key as given), which a server that
ties a key to one body accepts and a resumed run replays ask by ask.

The answer returned carries ``.parsed``; its ``usage``, ``cost`` and ``attempts`` are the
sums over every ask (cost None when any ask's price is unknown), so what the caller reads
is what was spent. When no ask fits, :class:`~sluicegate.errors.StructuredAnswerError`
carries the last problems, the number of asks, the attempts and the cost.

An answer that is a call of one of the caller's own tools is returned as is, unparsed:
the conversation has not reached its answer yet. A streamed call is asked natively for
JSON and its final Response (``Done``) gets ``.parsed``; it is not re-asked (its text has
reached the caller already), so an answer that does not fit ends the stream with the
StructuredAnswerError.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.errors import ConfigError, StructuredAnswerError
from sluicegate.stage_settings import stage_policy
from sluicegate.streaming import EventStream, expect_stream
from sluicegate.structured.parse import parse_answer
from sluicegate.structured.schema import AnswerSchema
from sluicegate.types import Message, Request, Response, ToolCall, Usage

__all__ = ["StructuredPolicy", "StructuredStage", "build"]

MAX_REASKS = 10


@dataclass(frozen=True, slots=True)
class StructuredPolicy:
    """``reasks``: how many times a model is asked again after an answer that does not
    fit (so at most ``reasks + 1`` asks); a call's own ``reasks=`` wins."""

    reasks: int = 2

    def __post_init__(self) -> None:
        check_reasks(self.reasks, "reasks")

    @classmethod
    def from_setting(cls, value: object) -> StructuredPolicy | None:
        """Read ``stage_settings["structured"]`` by the rules every stage shares
        (:func:`~sluicegate.stage_settings.stage_policy`); None: the stage is off."""
        return stage_policy("structured", cls, value)


def check_reasks(value: object, where: str) -> int:
    """``value`` as a re-ask count, or a ConfigError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REASKS:
        raise ConfigError(f"{where} must be a whole number from 0 to {MAX_REASKS}, got {value!r}")
    return value


def answer_call(response: Response, schema: AnswerSchema) -> ToolCall | None:
    """The call of the schema's own tool in ``response``, if the answer came as one."""
    for call in response.tool_calls:
        if call.name == schema.name:
            return call
    return None


def read_answer(response: Response, schema: AnswerSchema) -> object:
    """The answer in ``response`` parsed and validated: a model instance or a JSON value;
    StructuredAnswerError when it does not fit."""
    call = answer_call(response, schema)
    text = call.arguments if call is not None else response.text
    return schema.validate(parse_answer(text), text)


def feedback(error: StructuredAnswerError) -> str:
    """What a re-ask tells the model."""
    problems = "\n".join(f"- {p}" for p in error.problems) or f"- {error}"
    return (
        "Your answer could not be used:\n"
        f"{problems}\n"
        "Answer again with only the JSON value, fitting the schema, and nothing else."
    )


class StructuredStage:
    """See the module docstring."""

    __slots__ = ("_reasks",)

    def __init__(self, policy: StructuredPolicy) -> None:
        self._reasks = policy.reasks

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        schema = request.params.response_format
        if schema is None:
            return await call_next(request)
        if request.stream:
            stream = expect_stream(await call_next(request), request.model)
            return _parsed_at_end(stream, schema)
        return await self._ask(request, schema, call_next)

    async def _ask(self, request: Request, schema: AnswerSchema, call_next: CallNext) -> Response:
        reasks = request.metadata.reasks
        asks = (self._reasks if reasks is None else reasks) + 1
        key = request.metadata.idempotency_key
        usage = Usage()
        attempts = 0
        cost: float | None = 0.0
        current = request
        for ask in range(1, asks + 1):
            reply = await call_next(current)
            if isinstance(reply, EventStream):  # a stage below broke the chain's contract
                await reply.aclose()
                raise ConfigError(
                    f"a middleware answered a plain request for {request.model!r} with a stream"
                )
            usage = usage + reply.usage
            attempts += reply.attempts
            cost = None if cost is None or reply.cost is None else cost + reply.cost
            if reply.tool_calls and answer_call(reply, schema) is None:
                # the model called one of the caller's own tools: not the answer yet
                return reply.replace(usage=usage, attempts=attempts, cost=cost)
            try:
                parsed = read_answer(reply, schema)
            except StructuredAnswerError as error:
                if ask == asks:
                    raise StructuredAnswerError(
                        f"{request.model}: no answer fitted {schema.name} after {asks} "
                        f"ask{'s' if asks > 1 else ''}: {error}",
                        answer=error.answer,
                        problems=error.problems,
                        asks=asks,
                        attempts=attempts,
                        cost=cost,
                    ) from None
                current = _reask(current, reply, schema, error, key, ask + 1)
            else:
                return reply.replace(parsed=parsed, usage=usage, attempts=attempts, cost=cost)
        raise AssertionError("unreachable: the last ask returns or raises")


def _reask(
    request: Request,
    answer: Response,
    schema: AnswerSchema,
    error: StructuredAnswerError,
    key: str | None,
    ask: int,
) -> Request:
    """The request of the next ask: the conversation, the answer, and what was wrong."""
    call = answer_call(answer, schema)
    told = feedback(error)
    if call is not None:
        turns = (
            Message(role="assistant", content=answer.text, tool_calls=(call,)),
            Message(role="tool", content=told, tool_call_id=call.id),
        )
    else:
        turns = (
            Message(role="assistant", content=answer.text),
            Message(role="user", content=told),
        )
    metadata = request.metadata
    if key is not None:
        metadata = metadata.replace(idempotency_key=f"{key}:ask{ask}")
    return request.replace(messages=request.messages + turns, metadata=metadata)


def _parsed_at_end(stream: EventStream, schema: AnswerSchema) -> EventStream:
    def on_done(response: Response) -> Response:
        if response.tool_calls and answer_call(response, schema) is None:
            return response
        return response.replace(parsed=read_answer(response, schema))

    return stream.observe(on_done=on_done)


def build(context: ChainContext) -> StructuredStage | None:
    """The structured stage from ``settings["structured"]`` (None → defaults, False → off)."""
    policy = StructuredPolicy.from_setting(context.settings.get("structured"))
    return None if policy is None else StructuredStage(policy)
