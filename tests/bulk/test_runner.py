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


@pytest.mark.parametrize(("burst", "bucket"), [(0.1, 1), (60.0, 600)])
def test_the_run_client_paces_its_limit_unless_told_a_larger_burst(
    burst: float, bucket: int
) -> None:
    """``--rpm 600`` leaves as 10 a second (a bucket of one tenth of a second: 1 request)
    unless ``--burst 60`` lets the whole minute go at once; every model slow-starts."""
    from sluicegate.bulk.runner import build_client
    from sluicegate.clock import FakeClock
    from sluicegate.limits import RateLimits
    from sluicegate.limits.dimensions import RateDimension
    from sluicegate.limits.plan import Planner

    options = RunOptions(Path("in.jsonl"), Path("out.jsonl"), rpm=600, burst_s=burst)
    settings = build_client(options)._stage_settings["rate_limit"]
    assert isinstance(settings, RateLimits)
    assert settings.adaptive_settings is not None and settings.adaptive_settings.slow_start
    (rule,) = settings.rules
    assert rule.burst_of(600) == bucket
    plan = Planner(settings, {}, FakeClock()).plan("mock/fast")
    (requests,) = [d for d in plan.dimensions if isinstance(d, RateDimension)]
    assert requests.burst == bucket
