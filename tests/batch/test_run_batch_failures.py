"""Must-show 3: with 5% of items failing or expiring, the failed items are resubmitted
(as new jobs, or live with ``retry_live``), and the final output has every id, each with
its answer or, after the resubmit limit, its typed error. Jobs that fail as a whole are
resubmitted the same way.

The mock decides each item's fate per custom id and submission (a resubmitted item gets
a fresh draw), from a seed, so every run of these tests sees the same failures.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from batch.helpers import (
    MODELS,
    batch_client,
    mock_app,
    one_per_id,
    read_output,
    with_autojump,
    write_input,
)
from sluicegate.batch.run import BatchRunOptions, BatchRunOutcome, run_batch
from sluicegate.clock import FakeClock
from sluicegate.testing.mock_app import MockApp

pytestmark = pytest.mark.anyio

LINES = 4_000
WIRE = {"mock": "openai", "anthropic": "anthropic"}


async def run(
    tmp_path: Path, provider: str, *, lines: int = LINES, **options: Any
) -> tuple[BatchRunOutcome, MockApp, list[str], dict[str, dict[str, Any]]]:
    config = options.pop("config")
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, lines, MODELS[provider])
    clock = FakeClock()
    app = mock_app(clock, **config)
    outcome = await with_autojump(
        clock,
        run_batch,
        BatchRunOptions(output=out, input=source, progress="none", **options),
        client=batch_client(app, clock=clock),
    )
    records = one_per_id(read_output(out))
    assert sorted(records) == ids, "an id is missing from the output"
    return outcome, app, ids, records


def submissions(app: MockApp, provider: str) -> Counter[str]:
    ids = app.stats.batches.snapshot(with_ids=True)[WIRE[provider]]["ids"]
    return Counter({custom_id: n["submitted"] for custom_id, n in ids.items()})


@pytest.mark.parametrize("provider", ["mock", "anthropic"])
async def test_five_percent_failing_or_expiring_are_resubmitted_up_to_the_limit(
    tmp_path: Path, provider: str
) -> None:
    config = {"batch_item_failure_rate": 0.025, "batch_item_expiry_rate": 0.025, "batch_seed": 7}
    outcome, app, _ids, records = await run(tmp_path, provider, config=config, max_resubmits=2)

    fates = outcome.fates
    sent = submissions(app, provider)
    resubmitted = sum(n - 1 for n in sent.values())
    assert fates["resubmitted"] == resubmitted > LINES * 0.04  # about 5%, then 5% of those
    assert max(sent.values()) <= 3, "an item was submitted more than 1 + max_resubmits times"
    errors = {i: r for i, r in records.items() if "error" in r}
    answers = {i: r for i, r in records.items() if "response" in r}
    assert len(errors) + len(answers) == LINES
    recovered = [r for r in answers.values() if r["attempts"] > 1]
    assert len(recovered) == fates["recovered"] > 0
    # every id answered on its last submission, or written with the error of its third
    for line_id, record in errors.items():
        assert sent[line_id] == 3 and record["attempts"] == 3
        assert record["error"]["retryable"] is True
        assert record["error"]["type"] in ("ProviderError", "BatchItemError")
        assert record["usage"] is None and record["cost"] is None
    for line_id, record in answers.items():
        assert record["attempts"] == sent[line_id]
        assert record["response"]["text"] and record["cost"] > 0
    assert fates["failed_after_limit"] == len(errors)
    assert outcome.exit_code == (1 if errors else 0)
    # resubmissions are new jobs, each recorded with its attempt
    attempts = Counter(job.attempt for job in outcome.jobs)
    assert attempts[1] == LINES // 1000 and attempts[2] >= 1
    assert all(job.collected for job in outcome.jobs)


@pytest.mark.parametrize("provider", ["mock", "anthropic"])
async def test_expired_items_write_a_typed_error_when_no_resubmit_is_allowed(
    tmp_path: Path, provider: str
) -> None:
    config = {"batch_item_expiry_rate": 0.05, "batch_seed": 3}
    outcome, app, _ids, records = await run(
        tmp_path, provider, lines=1000, config=config, max_resubmits=0
    )
    errors = [r for r in records.values() if "error" in r]
    assert 20 < len(errors) < 90
    assert {r["error"]["type"] for r in errors} == {"BatchItemError"}
    assert all("expire" in r["error"]["message"] and r["attempts"] == 1 for r in errors)
    assert set(submissions(app, provider).values()) == {1}
    assert outcome.fates["resubmitted"] == 0
    assert outcome.fates["failed_after_limit"] == len(errors)


@pytest.mark.parametrize("provider", ["mock", "anthropic"])
async def test_retry_live_sends_the_failed_items_live_at_the_live_price(
    tmp_path: Path, provider: str
) -> None:
    config = {"batch_item_failure_rate": 0.05, "batch_seed": 11}
    outcome, app, _ids, records = await run(
        tmp_path, provider, lines=2000, config=config, retry_live=True
    )
    assert all("response" in r for r in records.values())  # the live mock never fails
    retried = outcome.fates["retried_live"]
    assert retried > 50 and outcome.fates["recovered"] == retried
    assert set(submissions(app, provider).values()) == {1}  # no second job
    assert app.stats.snapshot()["requests"] >= retried  # the live calls
    costs = sorted({round(r["cost"] / r["usage"]["output_tokens"], 12) for r in records.values()})
    assert len(costs) == 2 and costs[1] > costs[0]  # two prices: batch and live
    assert outcome.exit_code == 0


async def test_jobs_that_fail_as_a_whole_are_resubmitted(tmp_path: Path) -> None:
    config = {"batch_failure_rate": 0.3, "batch_seed": 5}
    outcome, _app, _ids, records = await run(tmp_path, "mock", config=config, max_resubmits=4)
    failed_jobs = [job for job in outcome.jobs if job.state == "failed"]
    assert failed_jobs, "no job failed: the test shows nothing"
    assert all("response" in r for r in records.values())
    assert outcome.fates["resubmitted"] == 1000 * len(failed_jobs)
    assert outcome.exit_code == 0
