"""The config file's ``[aliases]`` in ``sluicegate run``: a line's ``model`` and
``--model`` may be aliases; result lines, prices and resume keys are the named model's;
an unknown bare name is a bad line that mentions the aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sluicegate.bulk.input import LineRules, parse_line
from sluicegate.cli import main

CONFIG = """\
[aliases]
quick = "mock/fast"
deep = "mock/smart"
"""


def run(tmp_path: Path, backend: str, *args: str) -> tuple[int, str, list[dict[str, object]]]:
    config = tmp_path / "sluicegate.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    argv = ["--config", str(config), "run", *args, "-o", str(out), "--no-progress"]
    result = CliRunner(env={"SLUICEGATE_MOCK_BASE_URL": ""}).invoke(
        main, [*argv, "--backend", backend], catch_exceptions=False
    )
    lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return result.exit_code, result.output, lines


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_aliases_name_the_models_of_run_lines(tmp_path: Path, backend: str) -> None:
    source = tmp_path / "in.jsonl"
    lines_in = [
        {"id": "a", "prompt": "one", "model": "quick"},
        {"id": "b", "prompt": "two", "model": "deep"},
        {"id": "c", "prompt": "three", "model": "nosuch"},  # neither alias nor provider/model
    ]
    source.write_text("".join(json.dumps(x) + "\n" for x in lines_in), encoding="utf-8")
    status, output, lines = run(tmp_path, backend, str(source))
    assert status != 0, output  # the bad line
    by_id = {line["id"]: line for line in lines}
    assert sorted(by_id) == ["a", "b"]
    assert by_id["a"]["model"] == "mock/fast" and by_id["b"]["model"] == "mock/smart"
    assert all(isinstance(by_id[i]["cost"], float) for i in "ab")  # priced as the models
    [bad] = [json.loads(x) for x in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert bad["line"] == 3 and "alias" in bad["error"] and "aliases: deep, quick" in bad["error"]

    # the same command again: resumed by id, nothing sent twice
    _, _, again = run(tmp_path, backend, str(source))
    assert len(again) == len(lines)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_model_option_may_be_an_alias(tmp_path: Path, backend: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "y"}\n')
    status, output, lines = run(tmp_path, backend, str(source), "--model", "deep")
    assert status == 0, output
    assert [line["model"] for line in lines] == ["mock/smart", "mock/smart"]


def test_a_bare_model_that_is_no_alias_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "prompt": "x"}\n', encoding="utf-8")
    status, output, _ = run(tmp_path, "asyncio", str(source), "--model", "nosuch")
    assert status == 2 and "use an alias of the config file" in output


def test_an_alias_and_its_model_make_the_same_request() -> None:
    rules = LineRules("mock/fast", frozenset({"mock"}), {"quick": "mock/fast"})
    by_alias = parse_line(b'{"id": "a", "prompt": "x", "model": "quick"}', 1, rules)
    by_name = parse_line(b'{"id": "a", "prompt": "x", "model": "mock/fast"}', 1, rules)
    assert by_alias == by_name
