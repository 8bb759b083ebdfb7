"""What a batch run prints at the end: the live run's table per model (at the batch
price), then the jobs (created, reattached, still running), what became of the failed
items, and the cost against what the same answers would have cost live."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from sluicegate.batch.run import BatchRunOutcome
from sluicegate.bulk.summary import RunOutcome, render_summary
from sluicegate.cost.rates import format_usd

__all__ = ["render_batch_summary"]


def render_batch_summary(outcome: BatchRunOutcome, console: Any) -> None:
    """Print the summary on a rich ``console``."""
    stats = outcome.stats
    if outcome.action != "submit" and outcome.action != "wait":
        render_summary(
            RunOutcome(
                stats=stats,
                output=outcome.output,
                errors_file=outcome.errors_file,
                interrupted=False,
                stopped_reason=None,
                resume_command="",
                elapsed_s=outcome.elapsed_s,
                repaired_bytes=outcome.repaired_bytes,
            ),
            console,
        )
    elif stats.bad_lines:
        console.print(
            f"[red]{stats.bad_lines:,} bad input lines[/], each with its reason in "
            f"{outcome.errors_file}",
            highlight=False,
        )
    for line in _lines(outcome):
        console.print(line, highlight=False, soft_wrap=True)


def _lines(outcome: BatchRunOutcome) -> list[str]:
    lines: list[str] = []
    unfinished = outcome.unfinished_jobs
    parts = [f"{outcome.jobs_created:,} created"]
    if outcome.jobs_reattached:
        parts.append(f"{outcome.jobs_reattached:,} reattached (created by an earlier run)")
    if outcome.jobs_collected:
        parts.append(f"{outcome.jobs_collected:,} collected")
    lines.append(f"Batch jobs: {', '.join(parts)}; state in {outcome.state_file}")
    if outcome.action == "submit":
        for job in outcome.jobs:
            if not job.collected:
                lines.append(f"  {job.provider} {job.id}: {job.count:,} requests ({job.state})")
    fates = outcome.fates
    if any(fates.get(k) for k in ("resubmitted", "retried_live", "failed_after_limit", "failed")):
        how = "sent live" if fates.get("retried_live") else "resubmitted in new jobs"
        retried = fates.get("resubmitted", 0) + fates.get("retried_live", 0)
        lines.append(
            f"Failed or expired items (this output, all runs): {retried:,} {how}, "
            f"{fates.get('recovered', 0):,} recovered, {fates.get('failed_after_limit', 0):,} "
            f"still failing after the resubmit limit, {fates.get('failed', 0):,} failed with "
            "an error no retry can cure; each failure's typed error is in the output"
        )
    batch_cost = outcome.stats.cost
    if outcome.stats.written and (batch_cost or outcome.live_cost):
        saved = outcome.live_cost - batch_cost
        share = f", {saved / outcome.live_cost:.0%}" if outcome.live_cost > 0 else ""
        unknown = (
            f" ({outcome.live_unpriced:,} answers have no known price)"
            if outcome.live_unpriced
            else ""
        )
        lines.append(
            f"Cost of this run: {format_usd(batch_cost)} at the batch price; the same answers "
            f"live would have cost {format_usd(outcome.live_cost)} (saved {format_usd(saved)}"
            f"{share}){unknown}"
        )
    if outcome.cancelled or outcome.action == "cancel":
        again = (
            f"the same command submits them again:\n  {escape(outcome.resume_command)}"
            if outcome.cancelled
            else "the run's command ('sluicegate run ... --mode batch') submits them again"
        )
        lines.append(
            f"[yellow]Cancelled the jobs at the provider;[/] what they had finished is written. "
            f"{fates.get('canceled', 0):,} cancelled items are not: {again}"
        )
    elif outcome.action == "wait":
        lines.append(
            f"{len(unfinished):,} jobs have ended; write their results with: "
            f"sluicegate batch results {outcome.output}"
        )
    elif unfinished and outcome.action != "submit":
        ids = ", ".join(job.id for job in unfinished[:5]) + (" ..." if len(unfinished) > 5 else "")
        why = "Detached" if outcome.detached else "Not finished"
        lines.append(
            f"[yellow]{why}: {len(unfinished):,} jobs are still at the provider[/] ({ids}). "
            "The same command reattaches to them and collects their results "
            f"(nothing is submitted twice):\n  {escape(outcome.resume_command)}\n"
            f"or cancel them: sluicegate batch cancel {outcome.output}"
        )
    elif outcome.action == "submit" and unfinished:
        lines.append(
            f"Collect with: sluicegate batch results {outcome.output} (or wait for them: "
            f"sluicegate batch wait {outcome.output})"
        )
    return lines
