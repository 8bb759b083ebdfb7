"""``sluicegate compare``: every model's answer side by side, with latency, tokens and
cost, and a failing model shown beside the others."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from sluicegate.cli import exit_status, main


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_compare_shows_each_model_with_tokens_and_cost(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    argv = ["compare", "Name a river", "-m", "mock/fast", "-m", "mock/smart", "-m", "nope/x"]
    result = CliRunner().invoke(main, [*argv, "--max-tokens", "12", "--backend", backend])
    assert result.exit_code == exit_status.SOME_FAILED, result.output  # nope/x failed
    for model in ("mock/fast", "mock/smart", "nope/x"):
        assert model in result.output
    # the two answers' costs in their titles, tokens in their bodies; the failure has none
    assert result.output.count(" · $") == 2 and len(re.findall(r"\d+/\d+ tok", result.output)) == 2
    assert "ConfigError" in result.output and "Mock answer to: Name a river" in result.output


def test_compare_exits_2_when_no_model_is_configured() -> None:
    result = CliRunner().invoke(main, ["compare", "hi", "-m", "nope/x"])
    assert result.exit_code == exit_status.USAGE  # nothing was sent
