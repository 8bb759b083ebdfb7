"""``sluicegate run``'s input as rows: JSONL lines as they are, or CSV rows and JSONL
lines rendered through a prompt template (``--template``), each a record in the simple
form.

Why a module of its own
    A spreadsheet of reviews is not a file of requests: it has columns (``review_id``,
    ``text``...) and no prompt. Rather than teach every reader of the input (the local
    run and its later passes, the Ray engine's driver) about columns, each row is rendered
    here into exactly the simple JSONL form (``{"id", "prompt", "system"?, "model"?}``),
    which then goes through :func:`~sluicegate.bulk.input.parse_record` as a decoded JSONL
    line does. So everything downstream (one result per id, resume, the idempotency key
    derived from the request, the errors file with line numbers, budget, holding, passes)
    holds for CSV rows unchanged.

Templates
    ``str.format`` fields, ``{column}``; ``{{`` and ``}}`` are literal braces. Only plain
    names: attribute or index access (``{a.b}``, ``{a[0]}``), a conversion (``{a!r}``), a
    format spec (``{a:>10}``) and positional fields (``{}``, ``{0}``) are refused
    (:class:`TemplateError`, naming the field). A string value (every CSV cell is one) is
    inserted as it is, so a CSV row renders exactly as ``template.format(**row)`` would;
    any other JSON value (a number, ``true``, ``null``, an object, a list) as its compact
    JSON text (``42``, ``true``, ``null``, ``{"a":1}``, ``["x","y"]``).

    With a template, the record is the row's id (``--id-column``), the rendered prompt,
    ``--system`` if given, and the row's own ``model`` if it has one (it wins over
    ``--model``, as on a JSONL line). The row's other columns are only the template's
    data: a ``system`` column is *not* used (``--system`` is), nor ``max_tokens``.

CSV
    The header row names the columns. Read with :mod:`csv` (``newline=""``, so a quoted
    cell may span lines), UTF-8 with or without a BOM. A row's number is the line it
    starts on, as an editor shows it (the header is line 1), whatever its cells span. A
    row whose cells are all empty is skipped, as a blank line is; a row with more or
    fewer cells than the header is a bad row, as is an empty id. Bytes that are not
    UTF-8 stop the reading (:class:`~sluicegate.errors.BadInputError` naming the line):
    the counting pass before a run meets them first, so nothing is sent.

    The header is checked before anything is sent (:func:`check_input`): with a
    template, its fields and the id column must be columns. Without one, the CSV needs a
    ``prompt`` column and is read as the simple form, a field a column (``id``,
    ``prompt``, ``model``, ``system``, ``max_tokens``, ``temperature``, ``top_p``,
    ``stop``, ``tags``, ``messages`` as JSON text; an empty cell is a missing value);
    any other column is refused, as an unknown field of a JSONL line is a bad line.

    A CSV is read more than once (its header, the count, then each pass), so it must be a
    regular file: a pipe or FIFO is refused for now.

JSONL with a template
    Each line's JSON object gives the fields. A line that lacks one, or its id, is a bad
    line naming the field (not a usage error: lines differ, a header does not).
"""

from __future__ import annotations

import csv
import json
import string
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from io import TextIOWrapper
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sluicegate.bulk.input import SIMPLE_FIELDS, BadLine, _json_type, decode_line, read_lines
from sluicegate.errors import BadInputError

if TYPE_CHECKING:
    from _csv import Reader

__all__ = [
    "InputFormat",
    "InputSpec",
    "Row",
    "Template",
    "TemplateError",
    "check_input",
    "count_rows",
    "csv_header",
    "header_problem",
    "input_format",
    "parse_template",
    "read_rows",
    "value_text",
]

InputFormat = Literal["jsonl", "csv"]


class TemplateError(ValueError):
    """A template that cannot be used: malformed, or a field that is not a plain name."""


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed ``--template``: literal pieces, each followed by a field or by nothing."""

    text: str
    pieces: tuple[tuple[str, str | None], ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names, each once, in the order they first appear."""
        return tuple(dict.fromkeys(name for _, name in self.pieces if name is not None))

    def render(self, values: Mapping[str, Any]) -> str:
        """The template with each field replaced by its value (:func:`value_text`); every
        field must be in ``values``."""
        return "".join(
            literal if name is None else literal + value_text(values[name])
            for literal, name in self.pieces
        )


def parse_template(text: str) -> Template:
    """``text`` as a :class:`Template`; :class:`TemplateError` names what is refused."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:  # a lone brace, an unclosed field
        raise TemplateError(f"{exc} (write {{{{ and }}}} for a literal brace)") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        converted = f"!{conversion}" if conversion else ""
        shown = "{" + name + converted + (f":{spec}" if spec else "") + "}"
        if conversion is not None:
            raise TemplateError(f"field {shown}: a conversion (!{conversion}) is not allowed")
        if spec:
            raise TemplateError(f"field {shown}: a format spec (:{spec}) is not allowed")
        if not name or name.isdecimal():
            raise TemplateError(
                f"field {shown}: a positional field; name a column, such as {{text}} "
                "(write {{ and }} for a literal brace)"
            )
        if "." in name or "[" in name:
            raise TemplateError(
                f"field {shown}: attribute or index access is not allowed (only a column name)"
            )
        pieces.append((literal, name))
    return Template(text, tuple(pieces))


def value_text(value: Any) -> str:
    """How a value fills a field: a string as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Row:
    """A row of the input as a record for :func:`~sluicegate.bulk.input.parse_record`:
    a decoded JSONL line, or a rendered or CSV row; ``line`` is where it starts."""

    line: int
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How the input is read: its ``format``, the ``template`` (None: rows are requests
    as they are), the ``system`` message put before each rendered prompt, and the column
    or field that gives each row's id."""

    format: InputFormat = "jsonl"
    template: Template | None = None
    system: str | None = None
    id_column: str = "id"

    def line_row(self, raw: bytes | str, number: int) -> Row | BadLine:
        """One JSONL line as a :class:`Row` (rendered when there is a template)."""
        value = decode_line(raw, number)
        if isinstance(value, BadLine):
            return value
        if self.template is None:
            return Row(number, value)
        return _render_object(value, number, self, self.template)


def input_format(path: Path, choice: str = "auto") -> InputFormat:
    """``--input-format``: ``auto`` is ``csv`` for a name ending in ``.csv``, else ``jsonl``."""
    if choice == "csv" or (choice == "auto" and path.suffix.lower() == ".csv"):
        return "csv"
    return "jsonl"


def read_rows(path: Path, spec: InputSpec) -> Generator[Row | BadLine, None, None]:
    """Each row of ``path``, read lazily (the file is open while the generator runs)."""
    if spec.format == "csv":
        yield from _csv_rows(path, spec)
        return
    with path.open("rb") as stream:
        for number, raw in read_lines(stream):
            yield spec.line_row(raw, number)


def count_rows(path: Path, spec: InputSpec) -> int:
    """The rows :func:`read_rows` gives (good or bad): non-blank lines of JSONL, data
    rows of a CSV (not its header)."""
    if spec.format != "csv":
        with path.open("rb") as stream:
            return sum(1 for raw in stream if raw.strip())
    with _open_csv(path) as stream:
        reader = csv.reader(stream)
        if _header(reader, path) is None:
            return 0
        return sum(1 for _ in _cells(reader, path))


def csv_header(path: Path) -> list[str] | None:
    """The header row of the CSV ``path`` (None: the file has no row at all)."""
    with _open_csv(path) as stream:
        return _header(csv.reader(stream), path)


def check_input(path: Path, spec: InputSpec) -> None:
    """Refuse, before anything is sent, an input that cannot be read as ``spec`` says:
    a CSV that is not a regular file, or whose header lacks what the template and the id
    column name (:func:`header_problem`). :class:`BadInputError` naming the file."""
    if spec.format != "csv":
        return
    if not path.is_file():
        raise BadInputError(
            "a CSV input must be a regular file, not a pipe or FIFO (it is read more than "
            "once: its header, its count, then each pass); save it to a file, or pipe JSONL",
            file=str(path),
        )
    header = csv_header(path)
    if header is None:
        raise BadInputError("the CSV is empty: no header row", file=str(path))
    problem = header_problem(header, spec)
    if problem is not None:
        raise BadInputError(problem, file=str(path))


def header_problem(header: Sequence[str], spec: InputSpec) -> str | None:
    """Why a CSV with this ``header`` cannot be read as ``spec`` says, or None."""
    columns = ", ".join(map(repr, header))
    template = spec.template
    if template is None and "prompt" not in header:
        return f"a CSV needs --template (it has no 'prompt' column to send); its columns: {columns}"
    # the columns read: with a template, its fields, the id and the model; else all
    used = header if template is None else [*template.fields, spec.id_column, "model"]
    twice = [name for name in used if header.count(name) > 1]
    if twice:
        return (
            f"column {twice[0]!r} appears {header.count(twice[0])} times in the header: "
            f"which one is meant is unclear; its columns: {columns}"
        )
    wanted = {spec.id_column: "--id-column"}
    if template is not None:
        wanted = {**dict.fromkeys(template.fields, "in --template"), **wanted}
    missing = [f"{name!r} ({role})" for name, role in wanted.items() if name not in header]
    if missing:
        if len(missing) == 1:
            what = f"column {missing[0]} is"
        else:
            what = f"columns {', '.join(missing)} are"
        return f"{what} not in the CSV's header; its columns: {columns}"
    if template is None:
        known = (SIMPLE_FIELDS - {"id"}) | {spec.id_column}
        unknown = [name for name in header if name not in known]
        if unknown:
            fields = ", ".join(sorted(known))
            return (
                f"column {unknown[0]!r} is not a field of the simple form, which a CSV with a "
                f"'prompt' column and no --template is read as (fields: {fields}); rename "
                'or remove it, or give --template (such as "{prompt}") to choose the columns'
            )
    return None


# -- CSV ----------------------------------------------------------------------------------


def _open_csv(path: Path) -> TextIOWrapper:
    return path.open(encoding="utf-8-sig", newline="")


def _header(reader: Reader, path: Path) -> list[str] | None:
    for line, cells in _cells(reader, path):
        if isinstance(cells, str):  # the csv module's complaint about the first row
            raise BadInputError(f"the header row is not CSV: {cells}", file=str(path), line=line)
        return cells
    return None


def _cells(reader: Reader, path: Path) -> Iterator[tuple[int, list[str] | str]]:
    """``(the line a row starts on, its cells)`` of each row that is not all empty; for
    a row the csv module refuses (a cell over its size limit), its complaint instead."""
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num < start:  # nothing consumed: it would refuse forever
                raise BadInputError(f"not CSV: {exc}", file=str(path), line=start) from None
            yield start, f"not a CSV row: {exc}"
            continue
        except UnicodeDecodeError as exc:
            line = _first_undecodable_line(path) or start
            raise BadInputError(
                f"not UTF-8 text ({exc.reason}): save the CSV as UTF-8", file=str(path), line=line
            ) from None
        if any(cell.strip() for cell in cells):
            yield start, cells


def _first_undecodable_line(path: Path) -> int | None:
    """The number of the first line of ``path`` that is not UTF-8 (the decoder reads
    ahead, so its error does not say)."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _csv_rows(path: Path, spec: InputSpec) -> Generator[Row | BadLine, None, None]:
    with _open_csv(path) as stream:
        reader = csv.reader(stream)
        header = _header(reader, path)
        if header is None:
            return
        problem = header_problem(header, spec)
        if problem is not None:  # checked before the run; the file changed since
            raise BadInputError(problem, file=str(path))
        make = (
            _simple_maker(header, spec)
            if spec.template is None
            else _template_maker(header, spec, spec.template)
        )
        width = len(header)
        id_at = header.index(spec.id_column)
        for number, cells in _cells(reader, path):
            if isinstance(cells, str):
                yield BadLine(number, cells)
            elif len(cells) != width:
                row_id = cells[id_at] if id_at < len(cells) and cells[id_at] else None
                yield BadLine(
                    number,
                    f"a row of {len(cells)} cells, but the header has {width} columns",
                    row_id,
                )
            else:
                yield make(number, cells)


def _empty_id(number: int, spec: InputSpec) -> BadLine:
    return BadLine(
        number, f"empty id: no value in the id column {spec.id_column!r}", field=spec.id_column
    )


def _template_maker(
    header: list[str], spec: InputSpec, template: Template
) -> Callable[[int, list[str]], Row | BadLine]:
    id_at = header.index(spec.id_column)
    model_at = header.index("model") if "model" in header else None
    at = {name: header.index(name) for name in template.fields}

    def make(number: int, cells: list[str]) -> Row | BadLine:
        row_id = cells[id_at]
        if not row_id:
            return _empty_id(number, spec)
        prompt = template.render({name: cells[index] for name, index in at.items()})
        record: dict[str, Any] = {"id": row_id, "prompt": prompt}
        if spec.system is not None:
            record["system"] = spec.system
        if model_at is not None and cells[model_at]:
            record["model"] = cells[model_at]
        return Row(number, record)

    return make


_CELL_TYPES: dict[str, Callable[[str], Any]] = {
    "max_tokens": int,
    "temperature": float,
    "top_p": float,
    "messages": json.loads,
}
"""The simple form's fields that are not strings, read from a cell's text (a cell that
does not read is passed on as text, for :func:`parse_record` to name its field)."""


def _simple_maker(header: list[str], spec: InputSpec) -> Callable[[int, list[str]], Row | BadLine]:
    names = ["id" if name == spec.id_column else name for name in header]

    def make(number: int, cells: list[str]) -> Row | BadLine:
        record: dict[str, Any] = {}
        for name, cell in zip(names, cells, strict=True):
            if cell == "":
                continue
            convert = _CELL_TYPES.get(name)
            if convert is not None:
                try:
                    record[name] = convert(cell)
                    continue
                except ValueError:
                    pass
            record[name] = cell
        if "id" not in record:
            return _empty_id(number, spec)
        return Row(number, record)

    return make


# -- JSONL with a template ----------------------------------------------------------------


def _render_object(
    value: dict[str, Any], number: int, spec: InputSpec, template: Template
) -> Row | BadLine:
    name = spec.id_column
    raw_id = value.get(name)
    if raw_id is None:
        return BadLine(number, f"missing {name!r} (the id field, --id-column)", field=name)
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        return BadLine(
            number,
            f"{name!r} (the id field) must be a non-empty string or an integer, got "
            f"{_json_type(raw_id)}",
            field=name,
        )
    row_id = str(raw_id)
    for field in template.fields:
        if field not in value:
            return BadLine(number, f"missing field {field!r} of --template", row_id, field)
    record: dict[str, Any] = {"id": row_id, "prompt": template.render(value)}
    if spec.system is not None:
        record["system"] = spec.system
    if value.get("model") is not None:
        record["model"] = value["model"]
    return Row(number, record)
