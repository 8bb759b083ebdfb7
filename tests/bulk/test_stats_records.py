"""A result counted from its output line (``RunStats.add_record``, what the Ray engine's
driver does with lines made in its actors) counts exactly what the result itself counts
(``add_result``): the same summary, whichever engine ran the lines."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sluicegate.bulk.map import MapResult
from sluicegate.bulk.output import result_record
from sluicegate.bulk.stats import RunStats
from sluicegate.errors import RateLimitedError, RequestTimeoutError
from sluicegate.types import Message, Request, Response, Usage

_ERRORS = (
    RateLimitedError("slow down", provider="mock", model="fast", status=429, retryable=True),
    RequestTimeoutError("no answer", provider="mock", model="fast", retryable=True),
)


@st.composite
def results(draw: st.DrawFn) -> MapResult:
    model = draw(st.sampled_from(["mock/fast", "mock/smart", "openai/gpt-4o-mini"]))
    request = Request(model=model, messages=(Message(role="user", content="hi"),))
    latency = draw(st.floats(0, 30, allow_nan=False))
    if draw(st.booleans()):
        error = draw(st.sampled_from(_ERRORS))
        return MapResult(request, None, error, latency)
    usage = Usage(
        input_tokens=draw(st.integers(0, 10**6)), output_tokens=draw(st.integers(0, 10**6))
    )
    cost = draw(st.none() | st.floats(0, 100, allow_nan=False))
    response = Response(text="ok", model=model, provider="mock", usage=usage, cost=cost)
    return MapResult(request, response, None, latency)


@given(st.lists(results(), max_size=30))
def test_counting_a_record_is_counting_its_result(batch: list[MapResult]) -> None:
    direct, from_lines = RunStats(), RunStats()
    for number, result in enumerate(batch, 1):
        direct.add_result(result)
        # through JSON, as the record crosses from an actor to the driver
        from_lines.add_record(json.loads(json.dumps(result_record(result, number))))
    assert from_lines.written == direct.written
    assert from_lines.failed == direct.failed
    assert from_lines.models.keys() == direct.models.keys()
    for model, counted in direct.models.items():
        other = from_lines.models[model]
        assert (other.requests, other.succeeded, other.errors) == (
            counted.requests,
            counted.succeeded,
            counted.errors,
        )
        assert (other.input_tokens, other.output_tokens, other.unpriced) == (
            counted.input_tokens,
            counted.output_tokens,
            counted.unpriced,
        )
        assert abs(other.cost - counted.cost) <= 1e-9 * max(1.0, counted.cost)
        assert other.latency.count == counted.latency.count
