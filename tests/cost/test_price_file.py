"""Must-show 5 (first half): a price file's mistakes name the file, the line, the model
and the field; a good file overrides and adds prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluicegate import BadInputError, Client
from sluicegate.cost.price_file import PRICES_ENV, load_price_file

GOOD = """\
# negotiated prices
[models."openai/gpt-4o-mini"]
input = 0.10
output = 0.40
cached_input = 0.05
batch_discount = 0.5

[models."vllm/llama-3-70b"]
input = 0
output = 0.2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_is_read_with_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    prices = {p.model: p for p in load_price_file(path)}
    mini = prices["openai/gpt-4o-mini"]
    assert (mini.input_per_mtok, mini.output_per_mtok, mini.cached_input_per_mtok) == (
        0.10,
        0.40,
        0.05,
    )
    assert mini.source == f"file {path}"
    llama = prices["vllm/llama-3-70b"]
    assert llama.cached_input_per_mtok is None and llama.batch_discount == 0.5


def test_a_client_takes_the_file_as_an_argument_or_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD)
    given = Client(prices=str(path)).prices.lookup("openai/gpt-4o-mini")
    assert given is not None and given.input_per_mtok == 0.10
    monkeypatch.setenv(PRICES_ENV, str(path))
    from_env = Client().prices.lookup("vllm/llama-3-70b")
    assert from_env is not None and from_env.source == f"file {path}"
    monkeypatch.setenv(PRICES_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(BadInputError, match=r"missing\.toml"):
        Client()


def problem(tmp_path: Path, text: str) -> BadInputError:
    path = write(tmp_path, text)
    with pytest.raises(BadInputError) as caught:
        load_price_file(path)
    error = caught.value
    assert error.file == str(path) and str(path) in error.message
    return error


def test_invalid_toml_gives_the_line_and_column(tmp_path: Path) -> None:
    error = problem(tmp_path, '[models."openai/x"]\ninput = 0.1\noutput = = 2\n')
    assert error.line == 3
    assert f"{error.file}:3:" in error.message
    assert "line 3, column" in error.message


def test_a_missing_price_names_the_model_and_field(tmp_path: Path) -> None:
    error = problem(tmp_path, '\n[models."openai/gpt-4o"]\ninput = 2.5\n')
    assert error.field == 'models."openai/gpt-4o".output'
    assert error.line == 2
    assert "openai/gpt-4o" in error.message and "output" in error.message


@pytest.mark.parametrize(
    ("entry", "field", "says"),
    [
        ('input = "cheap"\noutput = 1', "input", "must be a number"),
        ("input = -0.5\noutput = 1", "input", ">= 0"),
        ("input = 1\noutput = inf", "output", ">= 0"),
        ("input = true\noutput = 1", "input", "must be a number"),
        ("input = 1\noutput = 1\nbatch_discount = 1.5", "batch_discount", "from 0 to 1"),
        ("input = 1\noutput = 1\ncache_read = 0.1", "cache_read", "unknown field"),
    ],
)
def test_a_bad_field_names_the_model_and_field(
    tmp_path: Path, entry: str, field: str, says: str
) -> None:
    error = problem(tmp_path, f'[models."anthropic/claude-haiku-4-5"]\n{entry}\n')
    assert error.field == f'models."anthropic/claude-haiku-4-5".{field}'
    assert error.line == 1
    assert says in error.message and "anthropic/claude-haiku-4-5" in error.message


def test_a_model_without_a_provider_is_refused(tmp_path: Path) -> None:
    error = problem(tmp_path, '[models."gpt-4o"]\ninput = 1\noutput = 1\n')
    assert "provider/model" in error.message and error.field == 'models."gpt-4o"'


def test_prices_outside_the_models_table_are_refused(tmp_path: Path) -> None:
    error = problem(tmp_path, '[model."openai/gpt-4o"]\ninput = 1\noutput = 1\n')
    assert error.field == "model" and error.line == 1
    error = problem(tmp_path, 'models = "all free"\n')
    assert error.field == "models"


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as caught:
        load_price_file(tmp_path / "nope.toml")
    assert "nope.toml" in caught.value.message and "cannot be read" in caught.value.message
