"""``run_file`` called directly: a failing write stops the run with that error as itself,
the output stays consistent, and a resume finishes the job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluicegate import BadInputError
from sluicegate.bulk import output
from sluicegate.bulk.runner import RunOptions, run_file

pytestmark = pytest.mark.anyio


def write_input(path: Path, count: int) -> None:
    path.write_text(
        "".join(
            json.dumps({"id": f"r{i}", "prompt": f"q {i}", "model": "mock/fast", "max_tokens": 5})
            + "\n"
            for i in range(count)
        )
    )


async def test_a_failed_write_stops_the_run_as_itself_and_a_resume_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 40)
    append = output.ResultLog.append

    def failing(self: output.ResultLog, record: dict[str, object]) -> None:
        if self.written == 10:
            raise OSError(28, "No space left on device")
        append(self, record)

    monkeypatch.setattr(output.ResultLog, "append", failing)
    options = RunOptions(input=source, output=out, concurrency=4, progress="none")
    with pytest.raises(OSError, match="No space left"):
        await run_file(options)
    assert len(out.read_text().splitlines()) == 10
    monkeypatch.setattr(output.ResultLog, "append", append)
    outcome = await run_file(options)
    assert outcome.exit_code == 0 and outcome.stats.skipped == 10
    ids = sorted(json.loads(line)["id"] for line in out.read_text().splitlines())
    assert ids == sorted(f"r{i}" for i in range(40))


async def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_input(source, 1)
    with pytest.raises(BadInputError, match="regular file"):
        await run_file(RunOptions(input=source, output=Path("/dev/null"), progress="none"))
