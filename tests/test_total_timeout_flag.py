"""``--total-timeout SECONDS`` on the commands that send requests: the client each command
builds gets it (0: no total limit), and its default is the library's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import sluicegate
from sluicegate.bulk.runner import RunOptions, build_client
from sluicegate.cli import main
from sluicegate.middleware.deadline import DEFAULT_TOTAL_TIMEOUT, DeadlinePolicy

COMMANDS = {
    "chat": ["chat", "mock/fast", "hi"],
    "compare": ["compare", "hi", "-m", "mock/fast"],
    "fanout": ["fanout", "hi", "-m", "mock/fast"],
}


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every Client the command builds."""
    calls: list[dict[str, Any]] = []
    real = sluicegate.Client

    def spy(**kwargs: Any) -> sluicegate.Client:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(sluicegate, "Client", spy)
    return calls


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ([], DEFAULT_TOTAL_TIMEOUT),
        (["--total-timeout", "0"], None),
        (["--total-timeout", "2.5"], 2.5),
    ],
)
def test_the_commands_hand_total_timeout_to_their_client(
    made: list[dict[str, Any]], command: str, flag: list[str], expected: float | None
) -> None:
    result = CliRunner().invoke(main, [*COMMANDS[command], *flag])
    assert result.exit_code == 0, result.output
    assert [call["total_timeout"] for call in made] == [expected]


def test_run_hands_total_timeout_to_its_client(tmp_path: Path) -> None:
    for seconds, policy in [(None, None), (30.0, DeadlinePolicy(total=30.0))]:
        options = RunOptions(input=tmp_path / "in", output=tmp_path / "out", total_timeout=seconds)
        client = build_client(options)
        assert client._stage_settings.get("deadline") == policy
    default = RunOptions(input=tmp_path / "in", output=tmp_path / "out")
    assert default.total_timeout == DEFAULT_TOTAL_TIMEOUT


def test_run_lists_the_flag_and_refuses_it_in_batch_mode(tmp_path: Path) -> None:
    runner = CliRunner()
    assert "--total-timeout" in runner.invoke(main, ["run", "--help"]).output
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "1", "prompt": "hi"}\n')
    result = runner.invoke(
        main,
        [
            "run",
            str(source),
            "-o",
            str(tmp_path / "o.jsonl"),
            "-m",
            "mock/fast",
            "--mode",
            "batch",
            "--total-timeout",
            "5",
        ],
    )
    assert result.exit_code == 2
    assert "--total-timeout is for --mode live" in result.output
