"""Rows of ``sluicegate run``'s input (:mod:`sluicegate.bulk.rows`): templates render as
``str.format`` would and refuse anything but plain names; CSV rows are read lazily, by the
line they start on, into the simple form; JSONL lines through a template; the header
checked before a run."""

from __future__ import annotations

import csv
import io
import json
import os
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluicegate.bulk.idset import IdSet
from sluicegate.bulk.input import BadLine, InputLine, LineRules, parse_line, parse_record
from sluicegate.bulk.rows import (
    InputSpec,
    Row,
    TemplateError,
    check_input,
    count_rows,
    header_problem,
    input_format,
    parse_template,
    read_rows,
    value_text,
)
from sluicegate.bulk.runner import RunOptions, count_lines
from sluicegate.bulk.stats import RunStats
from sluicegate.errors import BadInputError

RULES = LineRules(default_model="mock/fast", providers=frozenset({"mock"}))

# -- templates ----------------------------------------------------------------------------

names = st.text(min_size=1, max_size=12).filter(
    lambda name: not set(name) & set("{}[].:!") and not name.isdecimal()
)
"""Plain column names: what a field may name (spaces, unicode, leading digits...)."""
values = st.text(max_size=40)
"""Any cell: braces, quotes, newlines, unicode."""


def literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A template text of literal pieces (escaped braces among them) and plain fields."""
    fields = draw(st.lists(names, min_size=0, max_size=5))
    text = literal(draw(st.text(max_size=15)))
    for name in fields:
        text += "{" + name + "}" + literal(draw(st.text(max_size=15)))
    return text, fields


@given(templates(), st.data())
def test_a_template_renders_exactly_as_str_format_would(
    drawn: tuple[str, list[str]], data: st.DataObject
) -> None:
    text, fields = drawn
    row = {name: data.draw(values, label=name) for name in fields}
    template = parse_template(text)
    assert template.fields == tuple(dict.fromkeys(fields))
    assert template.render(row) == text.format(**row)


@given(st.text(max_size=30))
def test_literal_text_with_escaped_braces_renders_as_itself(text: str) -> None:
    template = parse_template(literal(text))
    assert template.fields == () and template.render({}) == text


@given(
    names,
    st.sampled_from([".attr", "[0]", "[key]", "!r", "!s", "!a", ":>10", ":{width}", "!r:x"]),
)
def test_attribute_index_conversion_and_format_spec_fields_are_refused(
    name: str, suffix: str
) -> None:
    field = "{" + name + suffix + "}"
    with pytest.raises(TemplateError) as caught:
        parse_template(f"Classify {field} please")
    message = str(caught.value)
    assert message.startswith("field {" + name)
    kind = {".": "attribute or index", "[": "attribute or index", "!": "conversion"}
    assert kind.get(suffix[0], "format spec") in message


@pytest.mark.parametrize("text", ["{}", "a {0} b", "{12}", "{٣}"])
def test_positional_fields_are_refused(text: str) -> None:
    with pytest.raises(TemplateError, match="positional field"):
        parse_template(text)


@pytest.mark.parametrize("text", ["a } b", "{text", "a {text b", "{a{b}}"])
def test_a_malformed_template_is_refused_with_the_formatter_s_reason(text: str) -> None:
    with pytest.raises(TemplateError, match="literal brace"):
        parse_template(text)


def test_an_empty_format_spec_is_no_spec() -> None:
    """``{text:}`` is what ``str.format`` reads as ``{text}``; so do we."""
    assert parse_template("{text:}").render({"text": "x"}) == "x" == "{text:}".format(text="x")


def test_the_parser_agrees_with_string_formatter_on_the_pieces() -> None:
    text = "A {a} and {{b}} then {c}{a}"
    parsed = list(string.Formatter().parse(text))
    template = parse_template(text)
    assert [(literal, name) for literal, name, _, _ in parsed] == list(template.pieces)
    assert template.fields == ("a", "c")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    )
)
def test_a_json_value_fills_a_field_as_text_or_compact_json(value: Any) -> None:
    text = value_text(value)
    if isinstance(value, str):
        assert text == value
    else:
        assert json.loads(text) == value and "\n" not in text  # one compact line
    if isinstance(value, int | float) and not isinstance(value, bool):
        assert text == str(value) or text == json.dumps(value)


# -- input format and the header ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "choice", "expected"),
    [
        ("reviews.csv", "auto", "csv"),
        ("REVIEWS.CSV", "auto", "csv"),
        ("reviews.jsonl", "auto", "jsonl"),
        ("reviews.txt", "auto", "jsonl"),
        ("reviews.txt", "csv", "csv"),
        ("reviews.csv", "jsonl", "jsonl"),
    ],
)
def test_the_format_follows_the_extension_unless_told(
    name: str, choice: str, expected: str
) -> None:
    assert input_format(Path(name), choice) == expected


def spec(template: str | None = "{text}", **kw: Any) -> InputSpec:
    return InputSpec("csv", None if template is None else parse_template(template), **kw)


def test_header_problems_name_the_missing_columns_and_list_the_header() -> None:
    header = ["review_id", "text"]
    assert header_problem(header, spec(id_column="review_id")) is None
    one = header_problem(header, spec("{txt}", id_column="review_id"))
    assert one == (
        "column 'txt' (in --template) is not in the CSV's header; its columns: 'review_id', 'text'"
    )
    two = header_problem(header, spec("{txt} {text} {stars}"))
    assert two is not None and two.startswith(
        "columns 'txt' (in --template), 'stars' (in --template), 'id' (--id-column) are not"
    )
    none = header_problem(header, spec(None, id_column="review_id"))
    assert none is not None and "needs --template" in none and "'review_id', 'text'" in none
    twice = header_problem(["id", "text", "text"], spec())
    assert twice is not None and "'text' appears 2 times" in twice
    assert header_problem(["id", "text", "text", "x", "x"], spec()) is not None
    assert header_problem(["id", "text", "x", "x"], spec()) is None  # unused: no matter


def test_a_prompt_csv_without_a_template_takes_only_simple_form_columns() -> None:
    assert header_problem(["id", "prompt", "model", "max_tokens"], spec(None)) is None
    assert header_problem(["key", "prompt"], spec(None, id_column="key")) is None
    unknown = header_problem(["id", "prompt", "notes"], spec(None))
    assert unknown is not None and "column 'notes' is not a field" in unknown
    assert '--template (such as "{prompt}")' in unknown


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_check_input_refuses_a_bad_header_an_empty_csv_and_a_fifo(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", "review_id,text\r\nr1,hi\r\n")
    check_input(source, spec(id_column="review_id"))
    check_input(tmp_path / "anything.jsonl", InputSpec())  # JSONL: nothing to check here
    with pytest.raises(BadInputError, match="column 'id' \\(--id-column\\)") as caught:
        check_input(source, spec())
    assert str(caught.value).startswith(f"{source}: ")
    with pytest.raises(BadInputError, match="the CSV is empty"):
        check_input(write(tmp_path / "empty.csv", "\r\n\r\n"), spec())
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(BadInputError, match="must be a regular file"):
        check_input(fifo, spec())  # without opening it (which would wait for a writer)


# -- CSV rows -----------------------------------------------------------------------------


def rows(path: Path, input_spec: InputSpec) -> list[Row | BadLine]:
    return list(read_rows(path, input_spec))


def test_csv_rows_are_numbered_by_the_line_they_start_on(tmp_path: Path) -> None:
    source = write(
        tmp_path / "in.csv",
        "\ufeffreview_id,text\r\n"  # a BOM, as Excel writes one
        'r1,"two\r\nlines"\r\n'
        'r2,"a ""quoted"" word, and a comma"\r\n'
        "\r\n"  # a blank line: skipped
        ",\r\n"  # every cell empty: skipped too
        'r3,"three\nlines\nhere"\n'
        "r4,\xe9t\xe9 \u2603 {braces}\n",
    )
    got = rows(source, spec("Review: {text}", id_column="review_id", system="Be terse."))
    assert got == [
        Row(2, {"id": "r1", "prompt": "Review: two\r\nlines", "system": "Be terse."}),
        Row(
            4, {"id": "r2", "prompt": 'Review: a "quoted" word, and a comma', "system": "Be terse."}
        ),
        Row(7, {"id": "r3", "prompt": "Review: three\nlines\nhere", "system": "Be terse."}),
        Row(10, {"id": "r4", "prompt": "Review: \xe9t\xe9 \u2603 {braces}", "system": "Be terse."}),
    ]
    assert count_rows(source, spec()) == 4 == count_lines(source, spec())
    assert count_lines(source) == 9  # as JSONL: its non-blank lines


def test_bad_csv_rows_are_bad_lines_and_reading_goes_on(tmp_path: Path) -> None:
    big = "x" * (csv.field_size_limit() + 1)
    source = write(
        tmp_path / "in.csv",
        "id,text,model\n"
        "r1,fine,\n"  # 2
        ",no id,\n"  # 3
        "r3,too,many,cells\n"  # 4
        "r4,too few\n"  # 5
        f"r5,{big},\n"  # 6: over the csv module's cell limit
        "r6,own model,mock/smart\n"  # 7
        "r7,,\n",  # 8: an empty cell renders as nothing (the request then refuses it)
    )
    got = rows(source, spec())
    assert [r.line for r in got] == [2, 3, 4, 5, 6, 7, 8]
    assert got[0] == Row(2, {"id": "r1", "prompt": "fine"})
    assert got[1] == BadLine(3, "empty id: no value in the id column 'id'", field="id")
    assert got[2] == BadLine(4, "a row of 4 cells, but the header has 3 columns", "r3")
    assert got[3] == BadLine(5, "a row of 2 cells, but the header has 3 columns", "r4")
    assert isinstance(got[4], BadLine) and "field larger than field limit" in got[4].reason
    assert got[5] == Row(7, {"id": "r6", "prompt": "own model", "model": "mock/smart"})
    assert got[6] == Row(8, {"id": "r7", "prompt": ""})
    empty = parse_record(got[6].record, 8, RULES)
    assert isinstance(empty, BadLine) and empty.field == "prompt"
    assert count_rows(source, spec()) == 7


def test_bytes_that_are_not_utf8_stop_the_reading_naming_their_line(tmp_path: Path) -> None:
    body = "".join(f"r{i},review {i}\n" for i in range(2, 3000))
    source = tmp_path / "in.csv"
    source.write_bytes(b"id,text\n" + body.encode() + b"r3000,caf\xe9\n")
    with pytest.raises(BadInputError, match="not UTF-8") as caught:
        count_rows(source, spec())  # the count, before a run sends anything
    assert caught.value.line == 3000


def test_a_prompt_csv_is_read_as_the_simple_form(tmp_path: Path) -> None:
    source = write(
        tmp_path / "in.csv",
        "key,prompt,model,system,max_tokens,temperature,stop,messages\n"
        "a,Hi,mock/smart,Be terse.,12,0.5,END,\n"
        "b,Hello,,,,,,\n"
        'c,,,,,,,"[{""role"": ""user"", ""content"": ""x""}]"\n'
        "d,Hey,,,lots,,,\n",
    )
    got = rows(source, spec(None, id_column="key"))
    assert got[0] == Row(
        2,
        {
            "id": "a",
            "prompt": "Hi",
            "model": "mock/smart",
            "system": "Be terse.",
            "max_tokens": 12,
            "temperature": 0.5,
            "stop": "END",
        },
    )
    assert got[1] == Row(3, {"id": "b", "prompt": "Hello"})
    assert got[2] == Row(4, {"id": "c", "messages": [{"role": "user", "content": "x"}]})
    parsed = [parse_record(r.record, r.line, RULES) for r in got if isinstance(r, Row)]
    assert isinstance(parsed[0], InputLine) and parsed[0].params["max_tokens"] == 12
    assert [m.role for m in parsed[0].messages] == ["system", "user"]
    assert isinstance(parsed[2], InputLine) and parsed[2].messages[0].content == "x"
    bad = parsed[3]
    assert isinstance(bad, BadLine) and bad.field == "max_tokens" and "'lots'" in bad.reason


def test_with_a_template_a_row_s_system_and_other_fields_are_only_data(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", "id,text,system,max_tokens\nr1,hi,IGNORED,5\n")
    assert rows(source, spec("{text}")) == [Row(2, {"id": "r1", "prompt": "hi"})]
    assert rows(source, spec("{system}!", system="S")) == [
        Row(2, {"id": "r1", "prompt": "IGNORED!", "system": "S"})
    ]


def test_csv_rows_are_read_lazily(tmp_path: Path) -> None:
    """The first row comes before the file is read to its end: rows appended after it
    was taken are read too."""
    source = write(
        tmp_path / "in.csv", "id,text\n" + "".join(f"r{i},{'x' * 100}\n" for i in range(5000))
    )
    reader = read_rows(source, spec())
    first = next(reader)
    assert isinstance(first, Row) and first.record["id"] == "r0"
    with source.open("a") as stream:
        stream.write("late,appended after the first row was read\n")
    rest = list(reader)
    assert len(rest) == 5000 and isinstance(rest[-1], Row) and rest[-1].record["id"] == "late"


cells = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\x00"), max_size=30)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(st.lists(st.tuples(cells, cells), min_size=1, max_size=12))
def test_any_csv_cells_render_as_str_format_by_the_line_they_start_on(
    tmp_path: Path, table: list[tuple[str, str]]
) -> None:
    """What ``csv.writer`` writes (quotes, commas, newlines, braces, unicode) reads back
    cell for cell, rendered as ``str.format``, each row numbered by its first line."""
    text = "{a} | {b} | {{literal}}"
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["id", "a", "b"])
    starts = []
    for i, (a, b) in enumerate(table):
        starts.append(buffer.getvalue().count("\n") + 1)
        writer.writerow([f"r{i}", a, b])
    source = write(tmp_path / "prop.csv", buffer.getvalue())
    got = rows(source, spec(text))
    assert got == [
        Row(start, {"id": f"r{i}", "prompt": text.format(a=a, b=b)})
        for i, (start, (a, b)) in enumerate(zip(starts, table, strict=True))
    ]


# -- JSONL with a template ----------------------------------------------------------------


def jsonl(template: str, **kw: Any) -> InputSpec:
    return InputSpec("jsonl", parse_template(template), **kw)


def test_jsonl_lines_give_the_fields_of_a_template() -> None:
    line_spec = jsonl("{title}: {body} {meta} {n} {ok} {none}", id_column="key", system="S")
    raw = json.dumps(
        {
            "key": 7,
            "title": "T",
            "body": "é\n{x}",
            "meta": {"a": [1, 2]},
            "n": 1.5,
            "ok": True,
            "none": None,
            "system": "the line's own: not used",
            "model": "mock/smart",
        }
    )
    assert line_spec.line_row(raw, 3) == Row(
        3,
        {
            "id": "7",
            "prompt": 'T: é\n{x} {"a":[1,2]} 1.5 true null',
            "system": "S",
            "model": "mock/smart",
        },
    )


@pytest.mark.parametrize(
    ("line", "reason", "field"),
    [
        ('{"text": "hi"}', "missing 'id' (the id field, --id-column)", "id"),
        ('{"id": "", "text": "hi"}', "'id' (the id field) must be a non-empty string", "id"),
        ('{"id": true, "text": "hi"}', "'id' (the id field) must be a non-empty string", "id"),
        ('{"id": "r1"}', "missing field 'text' of --template", "text"),
        ('{"id": "r1", "text": "hi"', "not valid JSON", None),
        ('["id", "text"]', "a line must be a JSON object", None),
    ],
)
def test_a_jsonl_line_missing_a_field_is_a_bad_line(
    line: str, reason: str, field: str | None
) -> None:
    got = jsonl("Say {text}").line_row(line, 9)
    assert isinstance(got, BadLine) and got.line == 9
    assert got.reason.startswith(reason) and got.field == field


def test_jsonl_without_a_template_is_read_as_before(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "prompt": "x"}),
        "",
        "{broken",
        json.dumps({"custom_id": "b", "body": {"messages": [{"role": "user", "content": "y"}]}}),
    ]
    source = write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")
    got = [
        parse_record(r.record, r.line, RULES) if isinstance(r, Row) else r
        for r in read_rows(source, InputSpec())
    ]
    expected = [parse_line(raw, n, RULES) for n, raw in enumerate(lines, 1) if raw]
    assert got == expected


# -- the Ray engine's driver reads the same rows ------------------------------------------


def test_the_ray_engine_sends_each_rendered_row_as_its_json_line(tmp_path: Path) -> None:
    from sluicegate.ray_data.engine import INPUT_COLUMN, NUMBER_COLUMN, _rows_to_send

    source = write(
        tmp_path / "in.csv",
        'review_id,text\nr1,"multi\nline"\n,empty id\nr1,again\nr4,{braces} ok\n',
    )
    input_spec = spec("Classify: {text}", id_column="review_id", system="Be terse.")
    options = RunOptions(input=source, output=tmp_path / "out.jsonl", input_spec=input_spec)
    stats = RunStats()
    done = IdSet()
    sent = _rows_to_send(options, RULES, done, stats)
    assert [(b.line, b.id) for b in sent.bad] == [(4, None), (5, "r1")]
    assert [row[NUMBER_COLUMN] for row in sent.rows] == [2, 6]
    local = [
        parse_record(r.record, r.line, RULES)
        for r in read_rows(source, input_spec)
        if isinstance(r, Row)
    ]
    # what an actor parses from the JSON line is what the local run sends
    remote = [parse_line(row[INPUT_COLUMN], row[NUMBER_COLUMN], RULES) for row in sent.rows]
    assert remote == [local[0], local[2]]
    assert isinstance(remote[1], InputLine) and remote[1].messages[1].content == (
        "Classify: {braces} ok"
    )
