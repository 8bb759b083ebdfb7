"""The summary a run prints at the end: a table per model (requests, errors by type,
tokens, cost, p50/p95 latency), the bad lines with their numbers, and what to do next
(resume after an interruption, read the errors file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluicegate.bulk.progress import format_cost
from sluicegate.bulk.stats import ModelStats, RunStats

__all__ = ["RunOutcome", "render_summary"]


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
    def exit_code(self) -> int:
        """0: complete with no failure; 1: complete, but some requests failed or lines
        were bad; 3: stopped early by the budget; 130: interrupted (Ctrl-C)."""
        if self.interrupted:
            return 130
        if self.stopped_reason is not None:
            return 3
        stats = self.stats
        return 1 if stats.failed or stats.bad_lines else 0


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"


def _errors(model: ModelStats) -> str:
    if not model.errors:
        return "-"
    return ", ".join(f"{kind} {n}" for kind, n in model.errors.most_common())


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
            f"is consistent.[/] {how}:\n  {outcome.resume_command}"
        )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
