"""The summary a run prints at the end: a table per model (requests, errors by type,
tokens, cost, p50/p95 latency), the bad lines with their numbers, the lines left pending
per model and why, and what to do next (run the same command again to send the pending
lines or to resume after an interruption, read the errors file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from sluicegate.bulk.progress import format_cost
from sluicegate.bulk.stats import ModelStats, PendingStats, RunStats
from sluicegate.cli import exit_status

__all__ = ["EXIT_PENDING", "RunOutcome", "render_summary"]

EXIT_PENDING = exit_status.PENDING
"""Finished, with lines pending: ``EX_TEMPFAIL`` of sysexits.h, "temporary failure; the
user is invited to retry" (the same command sends the pending lines)."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended, for the summary and the exit status."""

    stats: RunStats
    output: Path
    errors_file: Path | None
    interrupted: bool
    stopped_reason: str | None
    resume_command: str
    elapsed_s: float
    repaired_bytes: int = 0
    """Bytes of a torn last line (a crash mid-write) cut off the output before resuming."""

    @property
    def complete(self) -> bool:
        return not self.interrupted and self.stopped_reason is None

    @property
    def pending(self) -> int:
        """Lines neither in the output nor bad: left for the next run of the command."""
        return self.stats.pending_total

    @property
    def exit_code(self) -> int:
        """OK: complete with no failure; SOME_FAILED: complete, but some requests failed
        or lines were bad; PENDING: finished, but some lines are pending (run it again);
        BUDGET: stopped early by the budget; INTERRUPTED: Ctrl-C. Where several apply, the
        first of INTERRUPTED, BUDGET, PENDING, SOME_FAILED wins (:mod:`~sluicegate.cli.
        exit_status`)."""
        if self.interrupted:
            return exit_status.INTERRUPTED
        if self.stopped_reason is not None:
            return exit_status.BUDGET
        stats = self.stats
        if stats.pending_total:
            return exit_status.PENDING
        return exit_status.SOME_FAILED if stats.failed or stats.bad_lines else exit_status.OK


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"


def _errors(model: ModelStats) -> str:
    if not model.errors:
        return "-"
    return ", ".join(f"{kind} {n}" for kind, n in model.errors.most_common())


def _pending_reasons(stats: RunStats, model: str, pending: PendingStats) -> str:
    parts = []
    if pending.given_up:
        reason = stats.given_up.get(model, "given up")
        parts.append(f"{pending.given_up:,} {reason}")
    if pending.poison:
        kinds = stats.poison_errors.get(model)
        last = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()) if kinds else ""
        parts.append(
            f"{pending.poison:,} kept failing while the model answered other lines"
            + (f" (last error: {last})" if last else "")
        )
    if pending.other:
        parts.append(f"{pending.other:,} held when the run stopped")
    return "; ".join(parts)


def render_summary(outcome: RunOutcome, console: Any) -> None:
    """Print the summary on a rich ``console``."""
    from rich import box
    from rich.table import Table

    stats = outcome.stats
    # no rules between columns: the eight columns then fit an 80-column terminal
    table = Table(
        title="sluicegate run",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for name, justify in (
        ("model", "left"),
        ("requests", "right"),
        ("ok", "right"),
        ("errors", "left"),
        ("tokens in/out", "right"),
        ("cost", "right"),
        ("p50", "right"),
        ("p95", "right"),
    ):
        # numbers are never cut short; model names and errors fold instead, but never below
        # its own header's width (rich would otherwise shrink it to "er…" on 80 columns)
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=name not in ("model", "errors"),
            min_width=len(name),
        )
    for model, row in sorted(stats.models.items()):
        table.add_row(
            model,
            f"{row.requests:,}",
            f"{row.succeeded:,}",
            _errors(row),
            f"{row.input_tokens:,}/{row.output_tokens:,}",
            format_cost(row.cost, row.unpriced),
            _ms(row.latency.quantile(0.5)),
            _ms(row.latency.quantile(0.95)),
        )
    if len(stats.models) > 1:
        table.add_row(
            "[bold]all",
            f"{stats.written:,}",
            f"{stats.written - stats.failed:,}",
            f"{stats.failed:,} failed" if stats.failed else "-",
            f"{sum(m.input_tokens for m in stats.models.values()):,}/"
            f"{sum(m.output_tokens for m in stats.models.values()):,}",
            format_cost(stats.cost, stats.unpriced),
            "",
            "",
        )
    if stats.models:
        console.print(table)
    lines = [
        f"{stats.written:,} lines written to {outcome.output} in {outcome.elapsed_s:.1f} s"
        + (f" ({stats.skipped:,} already there)" if stats.skipped else ""),
    ]
    if outcome.repaired_bytes:
        lines.append(
            f"cut off a torn last line ({outcome.repaired_bytes} bytes) left by an earlier run "
            "killed mid-write; that id was sent again"
        )
    if stats.unpriced:
        lines.append(f"{stats.unpriced:,} answers have no known price: their cost is unknown")
    if stats.bad_lines:
        shown = ", ".join(f"{bad.line}" for bad in stats.first_bad)
        more = stats.bad_lines - len(stats.first_bad)
        lines.append(
            f"[red]{stats.bad_lines:,} bad input lines[/] (lines {shown}"
            + (f" and {more:,} more" if more > 0 else "")
            + f"); each with its reason in {outcome.errors_file}"
        )
        for bad in stats.first_bad[:5]:
            lines.append(f"  line {bad.line}: {bad.reason}")
    if outcome.complete and stats.pending_total:
        lines.append(
            f"[yellow]{stats.pending_total:,} lines pending[/] (not answered by this run, not "
            "failed: nothing was written for them):"
        )
        for model, pending in sorted(stats.pending.items()):
            lines.append(
                f"  {model}: {pending.total:,} ({_pending_reasons(stats, model, pending)})"
            )
        lines.append(
            "Run the same command again to send them (the ids already written are "
            f"skipped):\n  {escape(outcome.resume_command)}"
        )
    if outcome.interrupted or outcome.stopped_reason is not None:
        why = outcome.stopped_reason or "interrupted"
        how = (
            "Resume with the same command, which skips the ids already written"
            if outcome.interrupted
            else "Resume with a larger --budget (the cost already in the output counts "
            "against it); the ids already written are skipped"
        )
        lines.append(
            f"[yellow]Stopped ({why}) with {stats.remaining:,} lines still to do; the output "
            f"is consistent.[/] {how}:\n  {escape(outcome.resume_command)}"
        )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
