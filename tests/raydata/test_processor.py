"""``ChatProcessor`` on its own (no cluster): what every actor does with a batch. Rows in,
the same rows out with their answers or errors in columns, on asyncio and on trio; a
row's key is the job's and the row's, so the same row sent again by another actor (Ray
re-running a task) is answered from the shared store without reaching the server."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from raydata.peers import MODEL
from scaleout.cluster import fetch_arrivals
from sluicegate.errors import ConfigError
from sluicegate.ray_data import RESULT_COLUMNS, ChatProcessor, map_chat

BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_come_back_with_answers_and_errors_in_columns(backend: str) -> None:
    table = pa.table(
        {
            "id": ["a", "b", "c", "a"],
            "prompt": ["hi", "there", None, "twin"],
            "max_tokens": [8, None, 8, 8],
            "mine": [1, 2, 3, 4],
        }
    )
    with ChatProcessor(run_id="t", model="mock/fast", backend=backend) as processor:
        out = processor(table).to_pylist()
    assert [r["mine"] for r in out] == [1, 2, 3, 4]  # order and the caller's columns kept
    assert list(out[0])[-len(RESULT_COLUMNS) :] == list(RESULT_COLUMNS)
    a, b, c, twin = out
    assert a["error_type"] is None and a["response_text"].startswith("Mock answer to: hi")
    assert a["output_tokens"] <= 8 and a["cost_usd"] > 0 and a["attempts"] == 1
    assert b["error_type"] is None and b["pending"] is False
    assert c["error_type"] == "BadInputError" and "prompt" in c["error_message"]
    assert twin["error_type"] == "BadInputError" and "duplicate id 'a'" in twin["error_message"]
    record = json.loads(a["result_json"])  # the line `sluicegate run` writes
    assert record["id"] == "a" and record["response"]["text"] == a["response_text"]
    usage = record["usage"]
    assert (a["cached_tokens"], a["reasoning_tokens"]) == (
        usage["cached_tokens"],
        usage["reasoning_tokens"],
    )
    assert a["parsed_json"] is None  # no schema


@pytest.mark.parametrize("backend", BACKENDS)
def test_whole_json_lines_are_read_from_one_column_with_their_numbers(backend: str) -> None:
    lines = ['{"id": 1, "prompt": "one"}', "{not json", '{"custom_id": "x", "body": {}}']
    batch = {"line_json": lines, "number": [10, 11, 12]}
    settings = {"input_column": "line_json", "number_column": "number"}
    with ChatProcessor(run_id="t", model="mock/fast", backend=backend, **settings) as p:
        one, broken, empty = p(batch).to_pylist()
    assert one["error_type"] is None and json.loads(one["result_json"])["line"] == 10
    assert broken["error_type"] == "BadInputError" and "not valid JSON" in broken["error_message"]
    assert json.loads(broken["result_json"])["line"] == 11
    assert empty["error_type"] == "BadInputError" and "body.messages" in empty["error_message"]


def test_a_column_named_like_a_result_is_refused_by_name() -> None:
    with ChatProcessor(run_id="t", model="mock/fast") as processor:
        with pytest.raises(ConfigError, match="'response_text'"):
            processor({"id": ["a"], "prompt": ["hi"], "response_text": ["mine"]})


def test_a_limit_over_several_actors_needs_a_shared_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLUICEGATE_STORE", raising=False)
    with pytest.raises(ConfigError, match="rpm with 3 actors needs a shared store"):
        map_chat(object(), model="mock/fast", actors=3, rpm=600)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="budget with 2 actors"):
        map_chat(object(), model="mock/fast", budget=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_row_sent_again_by_another_actor_is_replayed_not_sent(
    backend: str, redis_url: str, mock_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{mock_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ray-replay-test-0123456789")
    batch = {"id": [f"r{i}" for i in range(10)], "prompt": [f"Row {i}" for i in range(10)]}
    settings = {"run_id": "job-1", "model": MODEL, "store": redis_url, "backend": backend}
    with ChatProcessor(**settings) as first:
        answered = first(batch).to_pylist()
    assert len(fetch_arrivals(mock_url).times_ns) == 10
    with ChatProcessor(**settings) as again:  # another actor, the same task re-run
        replayed = again(batch).to_pylist()
    assert len(fetch_arrivals(mock_url).times_ns) == 10  # nothing more reached the server
    assert [r["response_text"] for r in replayed] == [r["response_text"] for r in answered]
    assert {r["attempts"] for r in replayed} == {0}
    with ChatProcessor(**{**settings, "run_id": "job-2"}) as other_job:
        other_job(batch)
    assert len(fetch_arrivals(mock_url).times_ns) == 20  # another job's rows are its own


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schema_gives_each_row_its_parsed_answer(backend: str) -> None:
    schema = {
        "title": "Label",
        "type": "object",
        "properties": {"label": {"enum": ["positive", "negative", "mixed"]}},
        "required": ["label"],
    }
    table = pa.table({"id": ["a", "b"], "prompt": ["great", "awful"]})
    with ChatProcessor(run_id="t", model="mock/fast", backend=backend, schema=schema) as p:
        out = p(table).to_pylist()
    for row in out:
        record = json.loads(row["result_json"])
        assert row["error_type"] is None
        assert record["parsed"]["label"] in ("positive", "negative", "mixed")
        assert json.loads(row["response_text"]) == record["parsed"]
        assert json.loads(row["parsed_json"]) == record["parsed"]
