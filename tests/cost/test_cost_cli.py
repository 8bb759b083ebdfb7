"""Must-show 5 (second half): ``sluicegate prices`` lists the table with each price's
source; ``sluicegate fanout`` shows each answer's cost and the total."""

from __future__ import annotations

import math
from pathlib import Path

from click.testing import CliRunner

from sluicegate import Client, Usage, cost_of
from sluicegate.cli import exit_status, main
from sluicegate.cost.rates import format_usd
from table_rows import rows

WIDE = {"COLUMNS": "220", "SLUICEGATE_PRICES": ""}


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


def list_rows(output: str) -> dict[str, list[str]]:
    """The bundled-lists table's first line per provider: provider, as of, models, from,
    first source, start of the note."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 6 and cells[0] and cells[1][:2] == "20":
            found[cells[0]] = cells
    return found


def test_prices_lists_every_bundled_table_with_its_date_and_sources() -> None:
    result = CliRunner().invoke(main, ["prices", "--tables"], env=WIDE)
    assert result.exit_code == 0, result.output
    lists = list_rows(result.output)
    assert set(lists) == {"openai", "google", "deepseek", "mistral", "mock", "anthropic"}
    assert lists["google"][1:4] == ["2026-12-02", "5", "plugin gemini"]
    assert lists["google"][4] == "https://ai.google.dev/gemini-api/docs/pricing"
    assert lists["anthropic"][3] == "plugin anthropic"
    assert lists["deepseek"][4] == "https://api-docs.deepseek.com/quick_start/pricing"
    assert not rows(result.output)  # --tables: no model rows

    result = CliRunner().invoke(main, ["prices", "deepseek"], env=WIDE)
    assert set(list_rows(result.output)) == {"deepseek"}  # the pattern filters lists too
    assert set(rows(result.output)) == {
        f"deepseek/{m}"
        for m in ("deepseek-flash", "deepseek-v4-flash", "deepseek-v4-pro", "deepseek-v3.2")
    }


def test_prices_says_how_an_unlisted_relay_model_is_priced() -> None:
    result = CliRunner().invoke(main, ["prices", "openai/gemini-2.5-flash"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert (
        "openai/gemini-2.5-flash: priced as gemini/gemini-2.5-flash "
        "(plugin sluicegate-gemini 2026-12-02)" in result.output
    )
    result = CliRunner().invoke(main, ["prices", "openai/fast"], env=WIDE)
    assert "openai/fast: no price (unknown, never 0)" in result.output


def test_prices_with_a_file_shows_the_override_and_its_source(tmp_path: Path) -> None:
    path = tmp_path / "deal.toml"
    path.write_text('[models."openai/gpt-4o-mini"]\ninput = 0.1\noutput = 0.4\n')
    result = CliRunner().invoke(main, ["prices", "--prices", str(path), "gpt-4o-mini"], env=WIDE)
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert set(table) == {"openai/gpt-4o-mini"}  # the pattern filters
    assert table["openai/gpt-4o-mini"][1] == "$0.1"
    assert table["openai/gpt-4o-mini"][-1] == f"file {path} (replaces builtin openai 2026-12-02)"

    path.write_text('[models."relay/my-model"]\ninput = 1\noutput = 2\n')
    result = CliRunner().invoke(main, ["prices", "--prices", str(path), "relay/"], env=WIDE)
    assert rows(result.output)["relay/my-model"][-1] == f"file {path}"  # added, not replacing


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
