"""``sluicegate.toml``: providers and prices read and checked, every mistake placed by
file, line and key; the locator finds the line of any key of a generated file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate import Client
from sluicegate.config import find_config, load_config
from sluicegate.config.locate import KeyLines
from sluicegate.errors import BadInputError

GOOD = """\
# providers of the test
[providers.relay]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "SG_TEST_RELAY_KEY"
headers = { "X-Title" = "tests" }

[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:8/v1"

[prices."relay/model-x"]
input = 1.5
output = 3.0
"""


def write(tmp_path: Path, text: str, name: str = "sluicegate.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_providers_and_prices_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_RELAY_KEY", "sk-relay-test-123456")
    config = load_config(write(tmp_path, GOOD))
    assert set(config.providers) == {"relay", "local"}
    relay = config.providers["relay"]
    assert (relay.kind, relay.base_url, relay.api_key_env) == (
        "openai",
        "http://127.0.0.1:9/v1",
        "SG_TEST_RELAY_KEY",
    )
    assert relay.headers == {"X-Title": "tests"} and relay.line == 2
    settings = config.provider_settings()
    assert settings["relay"].api_key is not None
    assert settings["relay"].api_key.reveal() == "sk-relay-test-123456"
    assert settings["local"].api_key is None
    assert "sk-relay" not in repr(settings) + repr(config)
    (price,) = config.prices
    assert (price.model, price.input_per_mtok, price.output_per_mtok) == ("relay/model-x", 1.5, 3.0)


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ('[providers.x\nkind = "openai"\n', 1, None, "not valid TOML"),
        (
            '[providers.x]\nkind = "openai"\nbase_ur = "http://a"\n',
            3,
            "providers.x.base_ur",
            "unknown key",
        ),
        ('[providers.x]\nkind = "openai"\nbase_url = 42\n', 3, "providers.x.base_url", "string"),
        ('[providers.x]\nheaders = { "A" = 1 }\n', 2, "providers.x.headers.A", "string"),
        ("\n\n[extras]\nconcurrency = 4\n", 3, "extras", "unknown section"),
        ("[defaults]\nconcurency = 4\n", 2, "defaults.concurency", "unknown key"),
        ("[defaults]\nconcurrency = 0\n", 2, "defaults.concurrency", ">= 1"),
        ('[defaults]\ntimeout = "5"\n', 2, "defaults.timeout", "number"),
        ('[limits."openai/*"]\nrpm = 10\nrmp = 5\n', 3, "limits.openai/*.rmp", "unknown key"),
        ('[limits."openai/*"]\nrpm = 1.5\n', 2, "limits.openai/*.rpm", "whole number"),
        ('[limits."*/x"]\nrpm = 5\n', 1, "limits.*/x", "scope"),
        ('[aliases]\nquick = "fast"\n', 2, "aliases.quick", "provider/model"),
        ('[providers.X]\nkind = "openai"\n', 1, "providers.X", "lower-case"),
        ('[providers.x]\nbase_url = "ftp://a"\n', 2, "providers.x.base_url", "http"),
        ('[providers.x]\napi_key_env = "sk-abc def"\n', 2, "providers.x.api_key_env", "variable"),
        ('[prices."relay/m"]\ninput = 1\n', 1, 'prices."relay/m".output', "missing output"),
        ('[prices."relay/m"]\ninput = "1"\noutput = 2\n', 1, 'prices."relay/m".input', "number"),
    ],
)
def test_each_mistake_names_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str | None, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BadInputError) as caught:
        load_config(path)
    error = caught.value
    assert error.file == str(path) and error.line == line
    assert error.field == key
    assert words in error.message
    assert str(error).startswith(f"{path}:{line}: ")


def test_a_key_variable_that_is_not_set_is_placed_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SG_TEST_RELAY_KEY", raising=False)
    path = write(tmp_path, GOOD)
    with pytest.raises(BadInputError, match=r"SG_TEST_RELAY_KEY.*is not set") as caught:
        Client(config=path)
    assert (caught.value.line, caught.value.field) == (5, "providers.relay.api_key_env")


@pytest.mark.anyio
async def test_an_unknown_kind_is_placed_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[providers.x]\nkind = "opneai"\n')
    with pytest.raises(BadInputError, match="unknown kind 'opneai'") as caught:
        async with Client(config=path):
            pass
    assert (caught.value.line, caught.value.field) == (2, "providers.x.kind")


@pytest.mark.anyio
async def test_the_clients_arguments_win_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sluicegate import ProviderSettings

    monkeypatch.setenv("SG_TEST_RELAY_KEY", "sk-relay-test-123456")
    path = write(tmp_path, GOOD)
    given = {"local": ProviderSettings(kind="openai", base_url="http://127.0.0.1:7/v1")}
    async with Client(config=path, providers=given) as client:
        assert {"relay", "local", "mock", "openai"} <= client.provider_names
        assert client._providers["local"].base_url == "http://127.0.0.1:7/v1"
        assert client._providers["relay"].base_url == "http://127.0.0.1:9/v1"
        assert client.prices.lookup("relay/model-x") is not None


@pytest.mark.anyio
async def test_sluicegate_config_names_the_file_and_empty_names_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path, '[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:8/v1"\n'
    )
    monkeypatch.setenv("SLUICEGATE_CONFIG", str(path))
    async with Client() as client:
        assert "local" in client.provider_names
    monkeypatch.setenv("SLUICEGATE_CONFIG", "")
    async with Client() as client:
        assert "local" not in client.provider_names


def test_the_command_line_finds_the_file_in_order(tmp_path: Path) -> None:
    user = tmp_path / "xdg" / "sluicegate"
    user.mkdir(parents=True)
    (user / "sluicegate.toml").write_text("")
    work = tmp_path / "work"
    work.mkdir()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert find_config(cwd=work, environ=env).path == str(user / "sluicegate.toml")
    (work / "sluicegate.toml").write_text("")
    assert find_config(cwd=work, environ=env).path == str(work / "sluicegate.toml")
    assert find_config(cwd=work, environ={**env, "SLUICEGATE_CONFIG": "/x.toml"}).path == "/x.toml"
    assert find_config(cwd=work, environ={**env, "SLUICEGATE_CONFIG": ""}).path is None
    assert find_config("given.toml", cwd=work, environ=env).how == "--config"


_names = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
_values = st.one_of(
    st.integers(-5, 5).map(str),
    st.text(
        st.characters(blacklist_characters='"\\\n\r', blacklist_categories=("Cs", "Cc")), max_size=8
    ).map(lambda t: f'"{t}"'),
)


@given(st.dictionaries(_names, st.dictionaries(_names, _values, max_size=4), max_size=4))
def test_the_locator_finds_every_key_where_it_was_written(
    tables: dict[str, dict[str, str]],
) -> None:
    lines: list[str] = ["# generated"]
    where: dict[tuple[str, ...], int] = {}
    for table, keys in tables.items():
        lines.append("")
        lines.append(f'[providers."{table}"]' if "-" in table else f"[providers.{table}]")
        where[("providers", table)] = len(lines)
        for key, value in keys.items():
            lines.append(f"{key} = {value}  # a comment = not a key")
            where[("providers", table, key)] = len(lines)
    located = KeyLines("\n".join(lines) + "\n")
    for path, line in where.items():
        assert located.line(path) == line
        assert located.line((*path, "deeper", "still")) == line  # the nearest enclosing


DEFAULTS = """\
[aliases]
quick = "mock/fast"

[limits."mock/*"]
rpm = 600
concurrency = 3

[defaults]
concurrency = 4
timeout = 30
total_timeout = 0
attempts = 2
"""


@pytest.mark.anyio
async def test_defaults_limits_and_aliases_apply_and_arguments_win(tmp_path: Path) -> None:
    from sluicegate.limits import Limit, RateLimits
    from sluicegate.retry.policy import RetryPolicy

    path = write(tmp_path, DEFAULTS)
    client = Client(config=path)
    assert client._concurrency == 4 and client._timeout == 30.0
    assert "deadline" not in client._stage_settings  # total_timeout = 0: no limit in all
    assert client._stage_settings["retry"] == RetryPolicy(attempts=2)
    limits = client._stage_settings["rate_limit"]
    assert limits.rules == (Limit("mock/*", rpm=600, concurrency=3),)
    async with client:
        answer = await client.chat("quick", "hello", max_tokens=5)
    assert answer.model == "mock/fast"

    given = Client(
        config=path,
        concurrency=8,
        total_timeout=30,
        stage_settings={"rate_limit": RateLimits(rules=())},
    )
    assert given._concurrency == 8
    assert given._stage_settings["deadline"].total == 30
    assert given._stage_settings["rate_limit"].rules == ()
