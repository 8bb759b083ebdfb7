"""``sluicegate compare`` at 80 columns: each panel's title keeps the model (shortened with
an ellipsis when it must be) and the whole cost; latency and tokens wrap in the body."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from rich.console import Console

from sluicegate.cli import main
from sluicegate.cli.compare import answer_columns
from sluicegate.client import FanOutResult
from sluicegate.cost.rates import format_usd
from sluicegate.errors import ConfigError
from sluicegate.types import Response, Usage

LONG = "anthropic/claude-sonnet-4-5-20250929-with-a-long-suffix"


def answered(model: str, cost: float | None, latency: float = 12.3456) -> FanOutResult:
    response = Response(
        text="An answer " * 20,
        model=model,
        provider=model.split("/")[0],
        usage=Usage(12_345, 67_890),
        cost=cost,
    )
    return FanOutResult(model=model, response=response, error=None, latency=latency)


def render(results: list[FanOutResult], width: int = 80) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(answer_columns(results, console.width))
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_titles_keep_the_whole_cost_and_shorten_the_model(count: int) -> None:
    costs = [0.000123, 12.5, None, 0.0000042][:count]
    models = [LONG, "openai/gpt-4o-mini", "mock/unpriced", LONG + "-2"][:count]
    lines = render([answered(m, c) for m, c in zip(models, costs, strict=True)])
    assert all(len(line) <= 80 for line in lines)
    titles = [line for line in lines if "╭" in line]
    text = "\n".join(titles)
    for model, cost in zip(models, costs, strict=True):
        assert f" · {format_usd(cost)} " in text, (cost, text)  # the whole cost
        if len(model) <= 20:
            assert f" {model} · " in text  # a short name whole
    assert f" {LONG} · " in text if count == 1 else f" {LONG[:8]}" in text and "…" in text
    assert "-suffix · $" in text  # a long name keeps its end (dates, versions)
    flat = " ".join(line.strip("│ ") for line in lines)
    assert "12,346 ms · 12345/67890 tok" in flat


def test_a_failed_models_title_is_its_name_shortened() -> None:
    failed = FanOutResult(model=LONG, response=None, error=ConfigError("nope"), latency=0)
    lines = render([answered("mock/fast", 0.5), failed])
    assert "mock/fast · $0.50" in lines[0] or "mock/fast · $0.5" in lines[0]
    assert LONG[:8] in lines[0] and "…" in lines[0]
    assert any("ConfigError: nope" in line for line in lines)


def test_compare_at_80_columns_shows_each_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)
    argv = ["compare", "Name a river", "-m", "mock/fast", "-m", "mock/smart", "-m", "mock/x"]
    result = CliRunner().invoke(main, argv, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    titles = [line for line in result.output.splitlines() if "╭" in line]
    assert all(len(line) <= 80 for line in result.output.splitlines())
    for model in ("mock/fast", "mock/smart", "mock/x"):
        [title] = [t for t in titles if f" {model} · " in t]
        cost = title.split(f" {model} · ", 1)[1].split(" ")[0]
        assert cost == "?" or (cost.startswith("$") and len(cost) >= len("$0.000001")), title
