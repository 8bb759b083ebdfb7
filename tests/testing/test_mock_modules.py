"""The mock server's parts on their own: the import paths users rely on, the shared stream
pacing and fault placement, and the contract every wire format fulfils.

The behaviour of the whole server is tested through HTTP in test_mock_app.py; these tests
pin the seams between the modules, so a new wire format or gate cannot quietly skip one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncGenerator

import pytest

from sluicegate.testing.content import generate_answer
from sluicegate.testing.faults import MockConnectionCut
from sluicegate.testing.mock_anthropic import AnthropicWire
from sluicegate.testing.mock_config import MockConfig
from sluicegate.testing.mock_gemini import GeminiWire
from sluicegate.testing.mock_openai import OpenAIWire
from sluicegate.testing.mock_stats import MockStats
from sluicegate.testing.mock_streaming import StreamFrames, fault_position, paced_events
from sluicegate.testing.mock_wire import MockJob, ToolCall, WireFormat

WIRES: list[type[WireFormat]] = [OpenAIWire, AnthropicWire, GeminiWire]


def test_historic_import_paths_still_work() -> None:
    from sluicegate import testing
    from sluicegate.testing import mock_app

    for name in ("MockApp", "MockConfig", "MockStats", "create_app"):
        assert getattr(testing, name) is getattr(mock_app, name)
    for name in ("MockJob", "AdmissionCheck", "DEFAULT_MODELS"):
        assert name in mock_app.__all__
        assert hasattr(mock_app, name)


def test_importing_the_package_stays_cheap() -> None:
    code = (
        "import sys, sluicegate.testing; "
        "print(any(m.startswith(('starlette', 'hypercorn')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("wire", WIRES)
def test_every_wire_format_declares_its_shape(wire: type[WireFormat]) -> None:
    assert not wire.__abstractmethods__
    for attribute in ("provider", "request_id_header", "key_header", "server_error_type"):
        assert attribute in vars(wire), f"{wire.__name__} must set {attribute}"


def test_wire_formats_are_distinct_providers() -> None:
    assert sorted(w.provider for w in WIRES) == ["anthropic", "gemini", "openai"]


# -- fault placement and pacing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_pieces", "fault", "after", "expected"),
    [
        (10, None, None, -1),
        (10, "hang", None, -1),
        (10, "rate_limit", 3, -1),
        (10, "cut_stream", None, 5),
        (11, "malformed", None, 5),
        (10, "stream_error", 3, 3),
        (10, "stream_error", 0, 0),
        (4, "cut_stream", 99, 4),
        (0, "malformed", None, 0),
    ],
)
def test_fault_position(n_pieces: int, fault: str | None, after: int | None, expected: int) -> None:
    assert fault_position(n_pieces, fault, after) == expected  # type: ignore[arg-type]


def _job(text_tokens: int = 4) -> MockJob:
    return MockJob(
        provider="openai",
        model="fast",
        stream=True,
        include_usage=False,
        input_tokens=7,
        max_tokens=text_tokens,
        answer=generate_answer("hello", text_tokens, "fast"),
        tool=None,
        request_id="req_1",
        serial=1,
        idempotency_key=None,
    )


FRAMES = StreamFrames(
    opening=[b"open\n"],
    piece_head="<",
    piece_tail=">\n",
    closing=[b"close\n"],
    fault_event=b"FAULT\n",
)


async def _collect(events: AsyncGenerator[bytes, None]) -> list[bytes]:
    return [event async for event in events]


@pytest.mark.anyio
async def test_paced_events_undamaged_counts_once() -> None:
    job = _job()
    done: list[MockJob] = []
    events = await _collect(paced_events(FRAMES, job, None, None, 0.0, done.append))
    pieces = [f"<{json.dumps(p)}>\n".encode() for p in job.pieces]
    assert events == [b"open\n", *pieces, b"close\n"]
    assert done == [job]


@pytest.mark.anyio
async def test_paced_events_malformed_goes_on_but_is_not_a_success() -> None:
    job = _job()
    done: list[MockJob] = []
    events = await _collect(paced_events(FRAMES, job, "malformed", 1, 0.0, done.append))
    assert events[2] == b"FAULT\n"
    assert events[-1] == b"close\n"
    assert len(events) == 3 + len(job.pieces)
    assert done == []


@pytest.mark.anyio
async def test_paced_events_stream_error_ends_the_stream() -> None:
    done: list[MockJob] = []
    events = await _collect(paced_events(FRAMES, _job(), "stream_error", 2, 0.0, done.append))
    assert len(events) == 4  # opening, two pieces, the error
    assert events[-1] == b"FAULT\n"
    assert done == []


@pytest.mark.anyio
async def test_paced_events_cut_raises_after_the_pieces_before_it() -> None:
    received: list[bytes] = []
    done: list[MockJob] = []
    with pytest.raises(MockConnectionCut):
        async for event in paced_events(FRAMES, _job(), "cut_stream", 1, 0.0, done.append):
            received.append(event)
    assert len(received) == 2  # opening, one piece
    assert done == []


# -- stats ---------------------------------------------------------------------------------


def test_stats_count_requests_and_successes_per_idempotency_key() -> None:
    stats = MockStats()
    stats.count_request("/v1/messages", "k")
    stats.count_request("/v1/messages", "k")
    stats.count_request("/v1/models")
    stats.count_success(5, 3, "k")
    snapshot = stats.snapshot()
    assert snapshot["requests"] == 3
    assert snapshot["succeeded"] == 1
    assert (snapshot["input_tokens"], snapshot["output_tokens"]) == (5, 3)
    assert snapshot["by_path"] == {"/v1/messages": 2, "/v1/models": 1}
    assert snapshot["idempotency"] == {"k": {"received": 2, "succeeded": 1, "replayed": 0}}


# -- shared parsing rules ------------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
def test_tool_choice_follows_the_trigger_word(wire: type[WireFormat]) -> None:
    fmt = wire(MockConfig(tool_trigger="lookup"))
    call = fmt._tool_call("please lookup the weather in rome", ["a", "do_LOOKUP"], "id1")
    assert call == ToolCall("id1", "do_LOOKUP", '{"location":"Rome"}')
    assert fmt._tool_call("x", [], "id1") is None
    assert fmt._wants_tool("LOOKUP now")
    assert not fmt._wants_tool("lookups")
