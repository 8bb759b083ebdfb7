"""Must-show 5 (second half): ``sluicegate prices`` lists the table with each price's
source; ``sluicegate fanout`` shows each answer's cost and the total."""

from __future__ import annotations

import math
from pathlib import Path

from click.testing import CliRunner

from sluicegate import Client, Usage, cost_of
from sluicegate.cli import exit_status, main
from sluicegate.cost.rates import format_usd

WIDE = {"COLUMNS": "220", "SLUICEGATE_PRICES": ""}


def rows(output: str) -> dict[str, list[str]]:
    """Table rows by model: the cells of each line that starts with a model name."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and "/" in cells[0]:
            found[cells[0]] = cells
    return found


def test_prices_lists_models_with_their_prices_and_sources() -> None:
    result = CliRunner().invoke(main, ["prices"], env=WIDE)
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table["openai/gpt-4o-mini"] == [
        "openai/gpt-4o-mini",
        "$0.15",
        "$0.075",
        "-",
        "$0.6",
        "50%",
        "builtin openai 2026-12-02",
    ]
    assert table["anthropic/claude-sonnet-4-5"][1:] == [
        "$3",
        "$0.3",
        "$3.75",
        "$15",
        "50%",
        "plugin sluicegate-anthropic 2026-12-02",
    ]
    assert "made-up" in table["mock/fast"][-1]
    assert "prices change" in result.output


def test_prices_with_a_file_shows_the_override_and_its_source(tmp_path: Path) -> None:
    path = tmp_path / "deal.toml"
    path.write_text('[models."openai/gpt-4o-mini"]\ninput = 0.1\noutput = 0.4\n')
    result = CliRunner().invoke(main, ["prices", "--prices", str(path), "gpt-4o-mini"], env=WIDE)
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert set(table) == {"openai/gpt-4o-mini"}  # the pattern filters
    assert table["openai/gpt-4o-mini"][1] == "$0.1"
    assert table["openai/gpt-4o-mini"][-1] == f"file {path}"


def test_prices_with_a_bad_file_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[models."openai/gpt-4o-mini"]\ninput = "free"\noutput = 0.4\n')
    result = CliRunner().invoke(main, ["prices", "--prices", str(path)], env=WIDE)
    assert result.exit_code == exit_status.USAGE
    assert f"{path}:1:" in result.output
    assert 'models."openai/gpt-4o-mini".input must be a number' in result.output


def test_fanout_shows_each_cost_and_the_total_with_unknown_as_a_question_mark() -> None:
    result = CliRunner().invoke(
        main,
        ["fanout", "hello", "-m", "mock/fast", "-m", "mock/smart", "--max-tokens", "8"],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    prices = Client().prices
    costs = []
    for model in ("mock/fast", "mock/smart"):
        _, _, tokens, cost, _ = table[model]
        used, made = (int(n) for n in tokens.split("/"))
        price = prices.lookup(model)
        assert price is not None
        costs.append(cost_of(Usage(used, made), price))
        assert cost == format_usd(costs[-1])
    [total_line] = [line for line in result.output.splitlines() if "total" in line]
    assert format_usd(math.fsum(costs)) in total_line and "?" not in total_line

    result = CliRunner().invoke(
        main, ["fanout", "hello", "-m", "mock/fast", "-m", "mock/unpriced"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table["mock/unpriced"][3] == "?"
    [total_line] = [line for line in result.output.splitlines() if "total" in line]
    assert "+ ?" in total_line
