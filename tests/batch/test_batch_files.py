"""A batch run whose output cannot be written mid-collect (a full disk): the run returns
its outcome with the write error (the summary is printed from it), what was written stays,
the job stays uncollected, and the next run collects the rest without submitting again."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.helpers import MODELS, batch_client, mock_app, one_per_id, read_output, with_autojump
from batch.helpers import write_input as write_batch_input
from bulk.full_disk import full_disk_after
from sluicegate.batch.run import BatchRunOptions, run_batch
from sluicegate.bulk.file_errors import FileWriteError
from sluicegate.clock import FakeClock

pytestmark = pytest.mark.anyio


async def test_a_full_disk_while_collecting_keeps_what_was_written_and_resumes(
    tmp_path: Path, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_batch_input(source, 100, MODELS["mock"])
    clock = FakeClock()
    app = mock_app(clock)
    options = BatchRunOptions(output=out, input=source, progress="none")
    full_disk_after(monkeypatch, out, 30)
    first = await with_autojump(clock, run_batch, options, client=batch_client(app, clock=clock))
    assert isinstance(first.write_error, FileWriteError)
    assert first.write_error.path == str(out) and first.write_error.reason
    assert first.stats.written == 30 and len(read_output(out)) == 30
    assert [job.collected for job in first.jobs] == [False]
    monkeypatch.undo()
    second = await with_autojump(clock, run_batch, options, client=batch_client(app, clock=clock))
    assert second.write_error is None and second.jobs_created == 0
    assert sorted(one_per_id(read_output(out))) == ids
