"""The pure parts of the mock batch APIs: the timeline and job phases (a state machine
over time), JSONL line reading, the multipart parser and the seeded outcome draws."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.testing import MockConfig
from sluicegate.testing.mock_batch_items import (
    BatchItems,
    Outcome,
    item_outcome,
    iter_jsonl,
    job_fails,
)
from sluicegate.testing.mock_batch_jobs import BatchJob, JobEnd, Phase
from sluicegate.testing.mock_batch_stats import BatchStats
from sluicegate.testing.mock_batch_timeline import Timeline
from sluicegate.testing.mock_json_members import MemberMissing, MemberNotArray, array_member
from sluicegate.testing.mock_multipart import MultipartError, boundary_of, parse_form

# Phases in the order a job may pass through them (skipping some, never going back).
ORDER = [Phase.VALIDATING, Phase.IN_PROGRESS, Phase.FINALIZING, Phase.CANCELLING, Phase.ENDED]


def make_job(
    provider: str, n: int, duration: float, mark: str, rejected: bool, outcomes: list[int]
) -> BatchJob:
    items = BatchItems(b"")
    for i in range(n):
        items.add(f"id-{i}", Outcome(outcomes[i % len(outcomes)]), 3, 5)
    return BatchJob(
        provider=provider,  # type: ignore[arg-type]
        id="job",
        serial=1,
        created_clock=0.0,
        created_wall=1_700_000_000.0,
        timeline=Timeline(duration, n),
        items=items,
        mark=mark,  # type: ignore[arg-type]
        rejected=[{"code": "x"}] if rejected else None,
    )


@given(
    duration=st.floats(0.0, 100.0),
    n=st.integers(0, 500),
    times=st.lists(st.floats(0.0, 200.0), max_size=30),
)
def test_processed_grows_from_zero_to_all(duration: float, n: int, times: list[float]) -> None:
    timeline = Timeline(duration, n)
    counts = [timeline.processed(t) for t in sorted(times)]
    assert counts == sorted(counts)
    assert all(0 <= c <= n for c in counts)
    assert timeline.processed(timeline.processed_at) == n
    if duration > 0:
        assert timeline.processed(timeline.validated_at / 2) == 0


@given(
    provider=st.sampled_from(["openai", "anthropic"]),
    n=st.integers(1, 200),
    duration=st.floats(0.0, 50.0),
    mark=st.sampled_from(["ok", "fail", "expire"]),
    rejected=st.booleans(),
    cancel=st.one_of(st.none(), st.floats(0.0, 60.0)),
    times=st.lists(st.floats(0.0, 120.0), min_size=1, max_size=40),
    outcomes=st.lists(st.sampled_from(list(Outcome)), min_size=1, max_size=5),
)
def test_job_phases_only_move_forward(
    provider: str,
    n: int,
    duration: float,
    mark: str,
    rejected: bool,
    cancel: float | None,
    times: list[float],
    outcomes: list[int],
) -> None:
    job = make_job(provider, n, duration, mark, rejected and provider == "openai", outcomes)
    if cancel is not None and job.phase(cancel) is not Phase.ENDED:
        job.cancelled_at = cancel  # a cancel is only accepted before the end
    previous = job.phase(0.0)
    done = 0
    for t in sorted(times):
        phase = job.phase(t)
        assert ORDER.index(phase) >= ORDER.index(previous), (previous, phase, t)
        if job.fails_early:
            assert phase not in (Phase.IN_PROGRESS, Phase.FINALIZING)
        if mark == "expire":
            assert phase is not Phase.FINALIZING
        processed = job.processed(t)
        assert done <= processed <= n
        previous, done = phase, processed
    end = job.ends_at()
    assert job.phase(end) is Phase.ENDED
    final = job.processed(end)
    assert job.processed(end + 1_000) == final  # nothing happens after the end
    if job.cancelled_at is not None:
        assert job.end() is JobEnd.CANCELLED
    elif job.fails_early:
        assert job.end() is JobEnd.FAILED and final == 0
    elif mark == "expire":
        assert job.end() is JobEnd.EXPIRED
        assert final < n or duration == 0  # an instant job has done everything by halfway
    else:
        assert job.end() is JobEnd.COMPLETED and final == n

    stats = BatchStats()
    job.settle(stats)
    job.settle(stats)  # once only
    counted = (
        stats.items_succeeded[provider]
        + stats.items_failed[provider]
        + stats.items_expired[provider]
        + stats.items_canceled[provider]
    )
    assert counted == (0 if job.fails_early else n)
    assert sum(stats.answered[provider].values()) == stats.items_succeeded[provider]


@given(st.lists(st.sampled_from([b"{}", b"[1]", b"", b"  ", b'{"a":1}']), max_size=30))
def test_iter_jsonl_numbers_the_non_blank_lines(lines: list[bytes]) -> None:
    raw = b"\n".join(lines)
    expected = [(i + 1, line) for i, line in enumerate(raw.split(b"\n")) if line.strip()]
    assert list(iter_jsonl(raw)) == expected


@given(
    data=st.binary(max_size=3_000),
    purpose=st.sampled_from(["batch", "fine-tune"]),
    filename=st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters='"\\'),
        min_size=1,
        max_size=20,
    ),
)
def test_multipart_reads_what_httpx_encodes(data: bytes, purpose: str, filename: str) -> None:
    request = httpx.Request(
        "POST", "http://mock/v1/files", data={"purpose": purpose}, files={"file": (filename, data)}
    )
    body = request.read()
    parts = parse_form(body, boundary_of(request.headers["content-type"]))
    by_name = {part.name: part for part in parts}
    assert by_name["purpose"].data == purpose.encode()
    assert by_name["purpose"].filename is None
    assert by_name["file"].data == data
    assert by_name["file"].filename == filename


def test_multipart_refuses_what_it_cannot_read() -> None:
    with pytest.raises(MultipartError):
        boundary_of("application/json")
    with pytest.raises(MultipartError):
        boundary_of("multipart/form-data")
    with pytest.raises(MultipartError):
        parse_form(b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\nunterminated", "b")


def test_outcome_draws_are_fixed_and_near_their_rates() -> None:
    drawn = [item_outcome(3, "openai", f"id-{i}", 0, 0.1, 0.05) for i in range(20_000)]
    assert drawn == [item_outcome(3, "openai", f"id-{i}", 0, 0.1, 0.05) for i in range(20_000)]
    assert 0.09 < drawn.count(Outcome.FAILED) / 20_000 < 0.11
    assert 0.04 < drawn.count(Outcome.EXPIRED) / 20_000 < 0.06
    second = [item_outcome(3, "openai", f"id-{i}", 1, 0.1, 0.05) for i in range(20_000)]
    assert second != drawn  # the next attempt is a fresh draw
    assert item_outcome(3, "openai", "x", 0, 0.0, 0.0) is Outcome.SUCCEEDED
    assert all(item_outcome(3, "openai", f"{i}", 0, 1.0, 0.0) is Outcome.FAILED for i in range(50))
    jobs = [job_fails(0, "openai", i, 0.25) for i in range(4_000)]
    assert 0.22 < sum(jobs) / 4_000 < 0.28


@pytest.mark.parametrize(
    "settings",
    [
        {"batch_seconds": -1.0},
        {"batch_item_failure_rate": 1.5},
        {"batch_item_failure_rate": 0.6, "batch_item_expiry_rate": 0.6},
        {"openai_batch_max_requests": 0},
        {"anthropic_batch_max_bytes": True},
    ],
)
def test_config_refuses_bad_batch_settings(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings))):
        MockConfig(**settings)  # type: ignore[arg-type]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@given(
    elements=st.lists(JSON_VALUES, max_size=8),
    others=st.dictionaries(st.text(max_size=5).filter(lambda k: k != "requests"), JSON_VALUES),
    indent=st.sampled_from([None, 0, 2]),
    first=st.booleans(),
)
def test_array_member_reads_what_json_loads_reads(
    elements: list[object], others: dict[str, object], indent: int | None, first: bool
) -> None:
    document = {"requests": elements, **others} if first else {**others, "requests": elements}
    text = json.dumps(document, indent=indent)
    assert list(array_member(text, "requests")) == json.loads(text)["requests"]


def test_array_member_refuses_what_json_loads_refuses() -> None:
    with pytest.raises(MemberMissing):
        list(array_member('{"other": [1]}', "requests"))
    with pytest.raises(MemberMissing):
        list(array_member("{}", "requests"))
    with pytest.raises(MemberNotArray):
        list(array_member('{"requests": {"a": 1}}', "requests"))
    for broken in ('{"requests": [1, 2', '{"requests": [1]} x', "[1]", '{"requests": [1,]}'):
        with pytest.raises(ValueError):
            list(array_member(broken, "requests"))
    with pytest.raises(ValueError, match="twice"):
        list(array_member('{"requests": [], "requests": []}', "requests"))
