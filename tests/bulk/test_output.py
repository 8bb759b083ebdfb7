"""The output file: lines appended whole, a torn tail cut off on resume, foreign files
refused, and no key in any line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluicegate import BadInputError, ProviderError, Request, Response, Secret, ToolCall, Usage
from sluicegate.bulk import MapResult
from sluicegate.bulk.input import BadLine
from sluicegate.bulk.output import (
    BadLineLog,
    errors_path_for,
    open_results,
    result_record,
    scan_results,
)
from sluicegate.types import Message, Metadata


def request(caller: str = "r1") -> Request:
    return Request(
        model="mock/fast",
        messages=(Message(role="user", content="hi"),),
        metadata=Metadata(caller_id=caller),
    )


def ok(caller: str) -> MapResult:
    response = Response(text=f"answer {caller}", model="mock/fast", provider="mock")
    return MapResult(request(caller), response, None, 0.1)


def test_lines_are_appended_and_a_resume_sees_their_ids(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    log, resumed = open_results(path)
    assert len(resumed.done) == 0 and resumed.lines == 0
    for caller in ("a", "b", "c"):
        log.append(result_record(ok(caller), 1))
    log.close()
    again = scan_results(path)
    assert (again.lines, again.torn_bytes) == (3, 0)
    assert all(c in again.done for c in "abc") and "d" not in again.done


def test_a_torn_last_line_is_cut_off_and_the_lines_before_it_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    log, _ = open_results(path)
    log.append(result_record(ok("a"), 1))
    log.append(result_record(ok("b"), 2))
    log.close()
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"id":"c","line":3,"model":"mo')  # killed mid-write
    log, resumed = open_results(path)
    assert resumed.torn_bytes == len(b'{"id":"c","line":3,"model":"mo')
    assert path.read_bytes() == whole
    assert "c" not in resumed.done and "b" in resumed.done
    log.append(result_record(ok("c"), 3))
    log.close()
    assert [json.loads(x)["id"] for x in path.read_bytes().splitlines()] == ["a", "b", "c"]


def line_of(caller: str) -> bytes:
    return json.dumps(result_record(ok(caller), 1)).encode()


def test_a_complete_json_line_without_its_newline_is_torn_too(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(line_of("a") + b"\n" + line_of("b"))
    _, resumed = open_results(path)
    assert path.read_bytes() == line_of("a") + b"\n"
    assert "b" not in resumed.done


def test_a_file_that_is_not_a_run_output_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    content = line_of("a") + b"\nhello\n"
    path.write_bytes(content)
    with pytest.raises(BadInputError) as caught:
        open_results(path)
    assert caught.value.file == str(path) and caught.value.line == 2
    assert "'hello'" in caught.value.message
    assert path.read_bytes() == content  # untouched


@pytest.mark.parametrize(
    "content",
    [
        b'{"config": {"a": 1}}',  # a JSON document without its newline: not a torn line
        b'{"id": "a", "prompt": "hi"}\n',  # an input line: ids, but not results
        b"\n\nmy notes",
        b'{"id":"a"}\n',
    ],
)
def test_a_file_that_is_not_ours_is_never_repaired(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.json"
    path.write_bytes(content)
    with pytest.raises(BadInputError) as caught:
        open_results(path)
    assert caught.value.file == str(path)
    assert path.read_bytes() == content


def test_a_first_line_cut_by_a_crash_is_ours_and_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(line_of("a")[:9])  # killed while writing the very first line
    log, resumed = open_results(path)
    log.close()
    assert resumed.torn_bytes == 9 and path.read_bytes() == b""


def test_errors_file_names() -> None:
    assert errors_path_for(Path("out.jsonl")) == Path("out.errors.jsonl")
    assert errors_path_for(Path("d/results")) == Path("d/results.errors.jsonl")


def test_the_errors_file_is_rewritten_by_each_run(tmp_path: Path) -> None:
    path = tmp_path / "out.errors.jsonl"
    log = BadLineLog(path)
    log.append(BadLine(3, "not valid JSON"))
    log.close()
    assert json.loads(path.read_text()) == {"line": 3, "id": None, "error": "not valid JSON"}
    BadLineLog(path).close()  # a run with no bad line leaves no stale file
    assert not path.exists()


def test_a_response_record_has_usage_cost_latency_and_attempts() -> None:
    response = Response(
        text="hi",
        model="mock/fast",
        provider="mock",
        finish_reason="tool_calls",
        tool_calls=(ToolCall("c1", "weather", '{"location": "Paris"}'),),
        usage=Usage(10, 5, 2, reasoning_tokens=1),
        cost=0.25,
        attempts=2,
    )
    record = result_record(MapResult(request(), response, None, 1.5), 4)
    assert record == {
        "id": "r1",
        "line": 4,
        "model": "mock/fast",
        "response": {
            "model": "mock/fast",
            "text": "hi",
            "finish_reason": "tool_calls",
            "tool_calls": [{"id": "c1", "name": "weather", "arguments": '{"location": "Paris"}'}],
        },
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cached_tokens": 2,
            "reasoning_tokens": 1,
        },
        "cost": 0.25,
        "latency": 1.5,
        "attempts": 2,
    }


def test_no_key_reaches_an_error_or_answer_record() -> None:
    key = "sk-bulk-output-test-0123456789abcdef"
    Secret(key)  # a key the process knows
    error = ProviderError(
        f"invalid key {key}", provider="openai", model="gpt", status=401, retryable=False
    )
    record = result_record(MapResult(request(), None, error, 0.2), 1)
    assert record["error"]["status"] == 401 and record["error"]["type"] == "ProviderError"
    assert record["usage"] is None and record["attempts"] is None  # never sent
    error.attempts = 3
    assert result_record(MapResult(request(), None, error, 0.2), 1)["attempts"] == 3
    echoed = Response(text=f"you said {key}", model="mock/fast", provider="mock")
    answer = result_record(MapResult(request(), echoed, None, 0.1), 1)
    other = result_record(MapResult(request(), None, RuntimeError(f"bug {key}"), 0.1), 1)
    for line in (record, answer, other):
        assert key not in json.dumps(line)


def test_a_huge_foreign_file_without_newlines_is_refused_reading_only_its_start(
    tmp_path: Path,
) -> None:
    from sluicegate.bulk.output import check_results_file

    path = tmp_path / "blob.bin"
    path.write_bytes(b"\n\n" + b"z" * (8 << 20))
    with pytest.raises(BadInputError) as caught:
        check_results_file(path)
    assert caught.value.line == 3 and len(caught.value.message) < 1000
