"""A job's input lines, read back from the input file: what its results are matched to.

A result line names its item only by custom id; the output line needs the input line
number, the id and the model, and a resubmission needs the whole request again. Rather
than keep any of that in memory (or in the state file) for every line of a large input,
the state file records each job's lines as runs with their byte offsets, and the lines
are read back here, for one job at a time, when its results are collected: memory holds
one job's entries (line, offset, id, model), never the input's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sluicegate.batch.state import JobRecord
from sluicegate.bulk.input import InputLine, LineRules, parse_line
from sluicegate.errors import BadInputError
from sluicegate.types import Metadata, Request

__all__ = ["Entry", "job_entries", "read_line_at"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a job: where its line is, its id and model."""

    line: int
    offset: int
    id: str
    model: str

    def light_request(self) -> Request:
        """A request that names the model and id, without the messages: what a result
        is decoded and written against."""
        return Request(model=self.model, messages=(), metadata=Metadata(caller_id=self.id))


def job_entries(input_path: Path, record: JobRecord, rules: LineRules) -> Iterator[Entry]:
    """Each line of ``record`` as an :class:`Entry`, read at its offset."""
    with input_path.open("rb") as stream:
        for first, last, offset in record.lines:
            stream.seek(offset)
            for number in range(first, last + 1):
                raw = stream.readline()
                item = _parse(raw, number, rules, input_path)
                yield Entry(number, offset, item.id, item.model)
                offset += len(raw)


def read_line_at(stream: BinaryIO, entry: Entry, rules: LineRules, path: Path) -> InputLine:
    """The whole input line of ``entry`` (to build its request again)."""
    stream.seek(entry.offset)
    return _parse(stream.readline(), entry.line, rules, path)


def _parse(raw: bytes, number: int, rules: LineRules, path: Path) -> InputLine:
    item = parse_line(raw, number, rules)
    if not isinstance(item, InputLine):
        raise BadInputError(
            f"the line a batch job holds is no longer a good input line ({item.reason}): was "
            "the input changed while its jobs ran?",
            file=str(path),
            line=number,
        )
    return item
