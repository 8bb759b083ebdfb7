"""Must-show 1 of the config file: a ``sluicegate.toml`` naming two OpenAI-compatible
endpoints (two mock servers, each in its own process, on its own port) beside the
built-in mock, and one ``sluicegate fanout`` across all three; each config mistake as one
line naming file, line and key, with no traceback; ``sluicegate config`` shows where each
provider's key comes from and never the key."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from bulk.processes import mock_server, server_stats

KEY_A = "sk-relay-a-test-0123456789"
KEY_B = "sk-relay-b-test-9876543210"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SLUICEGATE_CONFIG"}
    env.update(RELAY_A_KEY=KEY_A, RELAY_B_KEY=KEY_B, **extra)
    return env


def _sluicegate(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluicegate", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _config(a: str, b: str) -> str:
    return f"""\
[providers.relay-a]
kind = "openai"
base_url = "{a}/v1"
api_key_env = "RELAY_A_KEY"

[providers.relay-b]
kind = "openai"
base_url = "{b}/v1"
api_key_env = "RELAY_B_KEY"
headers = {{ "X-Api-Key" = "header-secret-value" }}
"""


def test_one_fanout_across_two_configured_endpoints_and_the_mock(tmp_path: Path) -> None:
    with ExitStack() as stack:
        a = stack.enter_context(mock_server())
        b = stack.enter_context(mock_server())
        (tmp_path / "sluicegate.toml").write_text(_config(a, b))
        done = _sluicegate(
            tmp_path,
            "fanout",
            "Why?",
            "-m",
            "relay-a/fast",
            "-m",
            "relay-b/smart",
            "-m",
            "mock/tiny",
        )
        assert done.returncode == 0, done.stdout + done.stderr
        for model in ("relay-a/fast", "relay-b/smart", "mock/tiny"):
            assert model in done.stdout
        assert server_stats(a)["requests"] == 1
        assert server_stats(b)["requests"] == 1

        shown = _sluicegate(tmp_path, "config", COLUMNS="200")  # no cell wrapped
        assert shown.returncode == 0, shown.stderr
        assert "found in the working directory" in shown.stdout
        flat = " ".join(shown.stdout.replace("│", " ").split())
        assert "RELAY_A_KEY" in flat and "(set)" in flat
        for secret in (KEY_A, KEY_B, "header-secret-value"):
            assert secret not in shown.stdout + shown.stderr


def test_each_config_mistake_is_one_line_naming_file_line_and_key(tmp_path: Path) -> None:
    mistakes = {
        "bad.toml": ('[providers.x\nkind = "openai"\n', "bad.toml:1: not valid TOML"),
        "unknown.toml": (
            '[providers.x]\nkind = "openai"\nbase_ur = "http://a"\n',
            "unknown.toml:3: providers.x.base_ur: unknown key",
        ),
        "type.toml": (
            '[providers.x]\nkind = "openai"\nbase_url = 42\n',
            "type.toml:3: providers.x.base_url: must be a non-empty string",
        ),
        "variable.toml": (
            '[providers.x]\nkind = "openai"\n\napi_key_env = "SG_NOT_SET_ANYWHERE"\n',
            "variable.toml:4: providers.x.api_key_env: the environment variable "
            "SG_NOT_SET_ANYWHERE",
        ),
    }
    for name, (text, expected) in mistakes.items():
        (tmp_path / name).write_text(text)
        done = _sluicegate(tmp_path, "--config", name, "fanout", "q", "-m", "mock/fast")
        assert done.returncode != 0, name
        assert expected in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
