"""Every command ends with a status from the one table in ``sluicegate.cli.exit_status``,
reached here by real command runs (in process with click's CliRunner, against the
in-memory mock provider or ``sluicegate mock-server`` with a fault injected), and every
command's ``--help`` ends with that table."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from bulk.processes import WAIT_S, mock_server, server_stats, wait_until
from sluicegate.cli import exit_status, main
from sluicegate.errors import BadInputError, BudgetExceededError, ConfigError, ProviderError


@pytest.fixture(autouse=True)
def in_memory_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "160")


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def one_line(path: Path, model: str = "mock/fast", lines: int = 1) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": f"r{i}", "prompt": f"q {i}", "model": model, "max_tokens": 8}) + "\n"
            for i in range(lines)
        )
    )
    return path


# -- 2: bad usage or configuration, nothing sent -------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "mock/fast", "hi", "--max-tokens", "many"],
        ["chat", "mock/fast"],
        ["fanout", "hi"],
        ["compare", "hi", "-m", "mock/fast", "--no-such-option"],
        ["batch", "status"],
    ],
)
def test_bad_usage_exits_2(argv: list[str]) -> None:
    result = invoke(*argv)
    assert result.exit_code == exit_status.USAGE == 2, result.output


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "nope/x", "hi"],
        ["chat", "openai/gpt-4o-mini", "hi"],  # no OPENAI_API_KEY
        ["chat", "mock/fast", "hi", "--no-stream", "--prices-from-env"],
        ["fanout", "hi", "-m", "nope/x", "-m", "nope/y"],
        ["compare", "hi", "-m", "nope/x"],
    ],
)
def test_a_configuration_error_exits_2_not_1(
    argv: list[str], backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    if "--prices-from-env" in argv:
        argv = [a for a in argv if a != "--prices-from-env"]
        monkeypatch.setenv("SLUICEGATE_PRICES", str(tmp_path / "no-such-prices.toml"))
    result = invoke(*argv, "--backend", backend)
    assert result.exit_code == exit_status.USAGE, result.output
    assert "Traceback" not in result.output


def test_an_unknown_provider_in_a_chat_is_one_line_naming_it() -> None:
    result = invoke("chat", "nope/x", "hi")
    assert result.exit_code == exit_status.USAGE
    assert result.output.count("\n") == 1 and "unknown provider 'nope'" in result.output


def test_an_unusable_price_file_exits_2(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."openai/gpt-4o-mini"]\ninput = "cheap"\n')
    result = invoke("prices", "--prices", prices)
    assert result.exit_code == exit_status.USAGE, result.output
    assert f"{prices}:1:" in result.output and result.output.count("\n") == 1


def test_run_with_the_output_as_its_input_exits_2(tmp_path: Path) -> None:
    source = one_line(tmp_path / "in.jsonl")
    result = invoke("run", source, "-o", source, "--no-progress")
    assert result.exit_code == exit_status.USAGE, result.output


def test_batch_results_without_a_state_file_exits_2(tmp_path: Path) -> None:
    result = invoke("batch", "status", tmp_path / "none.jsonl")
    assert result.exit_code == exit_status.USAGE, result.output
    assert "no batch state file" in result.output


# -- 0 and 1: all answered, some failed --------------------------------------------------


def test_fanout_exits_0_when_all_answer_and_1_when_one_fails() -> None:
    assert invoke("fanout", "hi", "-m", "mock/fast", "-m", "mock/smart").exit_code == 0
    mixed = invoke("fanout", "hi", "-m", "mock/fast", "-m", "nope/x")
    assert mixed.exit_code == exit_status.SOME_FAILED, mixed.output
    mixed = invoke("compare", "hi", "-m", "mock/fast", "-m", "nope/x")
    assert mixed.exit_code == exit_status.SOME_FAILED, mixed.output


def test_failed_requests_exit_1_with_mock_fault_injection(tmp_path: Path) -> None:
    source = one_line(tmp_path / "in.jsonl", lines=3)
    with mock_server("--fault", "bad_request=1") as url:
        env = {"SLUICEGATE_MOCK_BASE_URL": f"{url}/v1"}
        run = invoke("run", source, "-o", tmp_path / "out.jsonl", "--no-progress", env=env)
        assert run.exit_code == exit_status.SOME_FAILED, run.output
        chat = invoke("chat", "mock/fast", "hi", env=env)
        assert chat.exit_code == exit_status.SOME_FAILED, chat.output
        assert "HTTP 400" in chat.output
        fanout = invoke("fanout", "hi", "-m", "mock/fast", "-m", "mock/smart", env=env)
        assert fanout.exit_code == exit_status.SOME_FAILED, fanout.output
        assert server_stats(url)["requests"] >= 6


# -- 3: budget ----------------------------------------------------------------------------


def test_a_budget_stops_a_run_with_3(tmp_path: Path) -> None:
    source = one_line(tmp_path / "in.jsonl", "mock/smart", lines=100)
    argv = ["run", source, "-o", tmp_path / "out.jsonl", "--no-progress", "-c", "2"]
    result = invoke(*argv, "--budget", "0.001")
    assert result.exit_code == exit_status.BUDGET == 3, result.output


# -- 130: interrupted ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_during_a_chat_exits_130(backend: str) -> None:
    with mock_server("--latency", "30") as url:
        env = {**os.environ, "SLUICEGATE_MOCK_BASE_URL": f"{url}/v1"}
        chat = subprocess.Popen(
            [sys.executable, "-m", "sluicegate", "chat", "mock/fast", "hi", "--backend", backend],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            wait_until(lambda: server_stats(url)["requests"] >= 1, "the chat's request")
            chat.send_signal(signal.SIGINT)
            _, stderr = chat.communicate(timeout=WAIT_S)
        finally:
            if chat.poll() is None:
                chat.kill()
                chat.wait()
    assert chat.returncode == exit_status.INTERRUPTED == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr


# -- which error gives which status -------------------------------------------------------


def test_each_kind_of_fatal_error_has_its_status() -> None:
    assert exit_status.of_error(ConfigError("bad")) == exit_status.USAGE
    assert exit_status.of_error(BadInputError("bad", file="x")) == exit_status.USAGE
    assert exit_status.of_error(FileNotFoundError(errno.ENOENT, "gone")) == exit_status.USAGE
    assert exit_status.of_error(OSError(errno.ENOSPC, "full")) == exit_status.IO_ERROR == 74
    budget = BudgetExceededError.__new__(BudgetExceededError)
    assert exit_status.of_error(budget) == exit_status.BUDGET
    failed = ProviderError("no", provider="p", model="m", status=500)
    assert exit_status.of_error(failed) == exit_status.SOME_FAILED


def test_several_models_all_refused_before_sending_is_usage_not_failure() -> None:
    config, failed = ConfigError("unknown"), ProviderError("x", provider="p", model="m")
    assert exit_status.of_answers([None, None]) == exit_status.OK
    assert exit_status.of_answers([config, config]) == exit_status.USAGE
    assert exit_status.of_answers([None, config]) == exit_status.SOME_FAILED
    assert exit_status.of_answers([failed, config]) == exit_status.SOME_FAILED


# -- --help -------------------------------------------------------------------------------


def _every_command(group: click.Group, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    found = [path]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        assert sub is not None
        if isinstance(sub, click.Group):
            found += _every_command(sub, (*path, name))
        else:
            found.append((*path, name))
    return found


def test_every_commands_help_ends_with_the_exit_status_table() -> None:
    commands = _every_command(main, ())
    assert ("batch", "results") in commands and ("chat",) in commands and len(commands) > 12
    table = " ".join(exit_status.HELP_TEXT.split())
    assert "2 bad usage or configuration" in table
    for path in commands:
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert " ".join(result.output.split()).endswith(table), path
