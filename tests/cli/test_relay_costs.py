"""``sluicegate fanout`` over four well-known models through one OpenAI-compatible relay
(``OPENAI_BASE_URL`` at a ``sluicegate mock-server``, which answers any model name): every
row shows a cost, each model priced as its maker's, and a price file overrides one."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bulk.processes import mock_server
from sluicegate import Client, Usage, cost_of
from sluicegate.cli import exit_status, main
from sluicegate.cost.rates import format_usd
from table_rows import rows

SEEDS = {
    "openai/gpt-4.1": "openai/gpt-4.1",
    "openai/claude-sonnet-4.5": "anthropic/claude-sonnet-4-5",
    "openai/gemini-2.5-flash": "gemini/gemini-2.5-flash",
    "openai/deepseek-v3.2": "deepseek/deepseek-v3.2",
}
"""What each relay model is asked as, and the price it should get."""


def fanout(url: str, prices: str = "") -> dict[str, list[str]]:
    env = {
        "OPENAI_BASE_URL": f"{url}/v1",
        "OPENAI_API_KEY": "sk-relay-test-0123456789abcdefghij",
        "SLUICEGATE_PRICES": prices,
        "SLUICEGATE_MOCK_BASE_URL": "",
        "COLUMNS": "220",
    }
    argv = ["fanout", "Name a river", "--max-tokens", "16"]
    for model in SEEDS:
        argv += ["-m", model]
    result = CliRunner().invoke(main, argv, env=env)
    assert result.exit_code == exit_status.OK, result.output
    [total] = [line for line in result.output.splitlines() if "total" in line]
    assert "?" not in total, total
    return rows(result.output)


def test_fanout_through_one_relay_shows_a_cost_for_every_well_known_model(
    tmp_path: Path,
) -> None:
    table = Client().prices
    with mock_server() as url:
        shown = fanout(url)
        assert set(shown) == set(SEEDS)
        for model, priced_as in SEEDS.items():
            _, _, tokens, cost, _ = shown[model]
            assert cost.startswith("$"), (model, cost)
            price = table.lookup(priced_as)
            assert price is not None
            used, made = (int(n) for n in tokens.split("/"))
            assert cost == format_usd(cost_of(Usage(used, made), price)), model

        # the user's own price for the relay's name wins over the relay rule
        deal = tmp_path / "relay.toml"
        deal.write_text('[models."openai/deepseek-v3.2"]\ninput = 100\noutput = 200\n')
        shown = fanout(url, prices=str(deal))
    _, _, tokens, cost, _ = shown["openai/deepseek-v3.2"]
    used, made = (int(n) for n in tokens.split("/"))
    assert cost == format_usd((used * 100 + made * 200) / 1_000_000)
