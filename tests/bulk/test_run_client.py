"""The bulk client's budget is named for its run: with a shared store, budgets of one
name are one count (kept for days), so a later run into another output, or a resumed one
(which already takes the output's cost off its limit), must not inherit an earlier run's
spending; the processes of one run (a Ray job's actors) share it by passing one name."""

from __future__ import annotations

from sluicegate.bulk.runner import run_client


def test_each_run_budget_has_a_name_of_its_own() -> None:
    first = run_client(concurrency=4, budget=1.0).budget
    second = run_client(concurrency=4, budget=1.0).budget
    assert first is not None and second is not None
    assert first.name != second.name
    assert first.limit == second.limit == 1.0


def test_processes_of_one_run_share_a_budget_by_name() -> None:
    budgets = [run_client(concurrency=4, budget=2.5, budget_name="ray job-7").budget for _ in "ab"]
    assert [b.name for b in budgets if b is not None] == ["ray job-7", "ray job-7"]


def test_without_a_budget_there_is_none() -> None:
    assert run_client(concurrency=4).budget is None
