"""The pure parts of batch mode, checked over generated inputs: splitting into jobs by
the limits, result lines from any chunking of a download, the multipart upload, the poll
schedule, and the state file's runs of lines."""

from __future__ import annotations

import itertools
import json
import random
from array import array
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.batch.api import BatchLimits
from sluicegate.batch.lines import LineSplitter
from sluicegate.batch.multipart import multipart_body
from sluicegate.batch.planner import ChunkPlanner, ItemTooLargeError, runs_of
from sluicegate.batch.state import BatchState, JobRecord, file_digest, state_path_for
from sluicegate.batch.watch import poll_delay
from sluicegate.errors import BadInputError
from sluicegate.types import Message, Metadata, Params, Request


class FakeApi:
    """A batch API with the OpenAI grouping (one model a job) and plain JSON items."""

    provider = "p"

    def __init__(self, limits: BatchLimits) -> None:
        self.limits = limits

    def custom_id(self, caller_id: str) -> str:
        return caller_id

    def group_key(self, request: Request) -> str:
        return request.model_name

    def encode_item(self, custom_id: str, request: Request) -> bytes:
        text = request.messages[0].text
        return json.dumps({"custom_id": custom_id, "text": text}).encode()


def make(i: int, model: str, size: int) -> Request:
    return Request(
        model=f"p/{model}",
        messages=(Message(role="user", content="x" * size),),
        params=Params(),
        metadata=Metadata(caller_id=f"id-{i}"),
    )


items = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 60)), max_size=80)


@given(items, st.integers(1, 7), st.integers(100, 400))
def test_chunks_respect_both_limits_and_keep_every_item_once_in_order(
    spec: list[tuple[str, int]], max_requests: int, max_bytes: int
) -> None:
    api: Any = FakeApi(BatchLimits(max_requests, max_bytes))
    planner = ChunkPlanner()
    chunks = []
    for i, (model, size) in enumerate(spec):
        full = planner.add(api, make(i, model, size), ref=i, offset=i * 10)
        if full is not None:
            chunks.append(full)
    chunks.extend(planner.flush())
    assert planner.pending == 0
    seen: list[int] = []
    for chunk in chunks:
        assert 1 <= chunk.count <= max_requests
        assert len(chunk.body) <= max_bytes
        lines = chunk.body.decode().splitlines()
        assert [json.loads(line)["custom_id"] for line in lines] == chunk.custom_ids
        assert chunk.custom_ids == [f"id-{r}" for r in chunk.refs]
        assert {spec[r][0] for r in chunk.refs} == {chunk.group}  # one model a job
        assert list(chunk.refs) == sorted(chunk.refs)
        seen.extend(chunk.refs)
    assert sorted(seen) == list(range(len(spec)))


def test_an_item_larger_than_a_whole_job_is_refused_and_ids_are_required() -> None:
    api: Any = FakeApi(BatchLimits(10, 50))
    with pytest.raises(ItemTooLargeError, match="more than a whole p batch job"):
        ChunkPlanner().add(api, make(1, "a", 100), ref=1)
    anonymous = make(1, "a", 1).replace(metadata=Metadata())
    with pytest.raises(BadInputError, match="needs an id"):
        ChunkPlanner().add(api, anonymous, ref=1)


@given(st.lists(st.integers(1, 5), min_size=0, max_size=60))
def test_runs_fold_consecutive_refs_and_unfold_to_the_same_refs(steps: list[int]) -> None:
    refs = array("Q")
    line = 0
    for step in steps:
        line += step
        refs.append(line)
    offsets = array("Q", (r * 7 for r in refs))
    runs = runs_of(refs, offsets)
    unfolded = [n for first, last, _ in runs for n in range(first, last + 1)]
    assert unfolded == list(refs)
    assert all(offset == first * 7 for first, _, offset in runs)
    assert all(b[0] > a[1] + 1 for a, b in itertools.pairwise(runs))


@given(
    st.lists(
        st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")), max_size=20
    ),
    st.lists(st.integers(1, 17), min_size=1, max_size=10),
    st.booleans(),
    st.booleans(),
)
def test_lines_come_out_whole_whatever_the_chunks(
    lines: list[bytes], cuts: list[int], final_newline: bool, crlf: bool
) -> None:
    end = b"\r\n" if crlf else b"\n"
    data = end.join(lines) + (end if final_newline and lines else b"")
    splitter = LineSplitter()
    out: list[bytes] = []
    position = 0
    for cut in cuts * (len(data) // max(sum(cuts), 1) + 1):
        out.extend(splitter.feed(data[position : position + cut]))
        position += cut
    out.extend(splitter.feed(data[position:]))
    out.extend(splitter.close())
    expected = list(lines)
    if expected and not final_newline and not expected[-1].strip():
        expected.pop()  # a blank unterminated tail is no line
    assert out == expected


@given(st.binary(max_size=300), st.text(max_size=20))
@settings(max_examples=50)
def test_the_multipart_body_parses_back_to_the_same_fields_and_file(
    data: bytes, purpose: str
) -> None:
    body, content_type = multipart_body(
        {"purpose": purpose},
        name="file",
        filename='in "x".jsonl',
        content_type="application/jsonl",
        data=data,
    )
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["purpose", "file"]
    assert parts[0].get_payload(decode=True) == purpose.encode()
    assert parts[1].get_payload(decode=True) == data
    assert parts[1].get_content_type() == "application/jsonl"


@given(st.floats(0, 30), st.floats(0, 600), st.integers(1, 10_000), st.integers(0, 2**32))
def test_a_poll_never_comes_sooner_than_the_minimum_nor_later_than_the_maximum(
    low: float, extra: float, poll: int, seed: int
) -> None:
    limits = BatchLimits(1, 1, min_poll_interval_s=low, max_poll_interval_s=low + extra)
    delay = poll_delay(limits, poll, random.Random(seed))
    assert low <= delay <= low + extra


def test_polls_back_off_towards_the_maximum() -> None:
    limits = BatchLimits(1, 1, min_poll_interval_s=1, max_poll_interval_s=64)
    rng = random.Random(4)
    early = [poll_delay(limits, 1, rng) for _ in range(200)]
    late = [poll_delay(limits, 12, rng) for _ in range(200)]
    assert max(early) == 1.0  # the first wait is the minimum
    assert sum(late) / len(late) > 25  # full jitter below a ceiling of 64: about 32


def test_the_state_file_round_trips_and_is_replaced_whole(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    path = state_path_for(output)
    assert path.name == "out.jsonl.batches.json"
    source = tmp_path / "in.jsonl"
    source.write_text("a\nb\n")
    state = BatchState(path, str(source), file_digest(source))
    first = JobRecord("j1", "mock", 1, 3, [[1, 2, 0], [4, 4, 30]], state="running")
    state.add(first)
    state.add(JobRecord("j2", "mock", 2, 1, [[4, 4, 30]]))
    state.add(JobRecord("j3", "mock", 1, 2, [[7, 8, 70]]))
    state.count("resubmitted", 1)
    state.save()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    loaded = BatchState.load(path)
    assert loaded is not None
    assert [j.to_json() for j in loaded.jobs] == [j.to_json() for j in state.jobs]
    assert loaded.fates["resubmitted"] == 1
    assert list(loaded.covered_lines()) == [1, 2, 4, 4, 7, 8]
    assert loaded.resubmitted_lines(loaded.jobs[0]) == {4}  # j2, not j3 (same attempt)
    loaded.jobs[0].collected = True
    assert list(loaded.covered_lines()) == [4, 7, 8]


def test_a_state_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.batches.json"
    path.write_text("{not json")
    with pytest.raises(BadInputError, match="not a batch state file"):
        BatchState.load(path)
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(BadInputError, match="version 1"):
        BatchState.load(path)
    path.write_text(json.dumps({"version": 1, "jobs": [{"id": "j"}]}))
    with pytest.raises(BadInputError, match="malformed job record"):
        BatchState.load(path)
    assert BatchState.load(tmp_path / "missing.json") is None
