"""The output file of ``sluicegate run``: one JSON line per input id, appended, resumable.

Writing
    Each result is one ``os.write`` of a whole line with its newline, on a descriptor
    opened with ``O_APPEND`` and no Python buffer: once the call returns the line is in
    the kernel's hands, so killing the process (even ``kill -9``) loses nothing written.
    A write is not followed by ``fsync``: a power cut may lose the last lines, which a
    resume detects and redoes like any missing line. The write is synchronous on purpose:
    a page-cache write of a few hundred bytes takes microseconds, far less than handing
    it to a worker thread would.

Resuming
    :func:`open_results` reads the file before anything is appended: every complete line
    (ending in a newline) must be a result line (:func:`is_result_record`: a JSON object
    with a string ``id``, a ``model`` and a ``response`` or an ``error``), and those ids
    are done. Bytes after the last newline are a line torn by a crash mid-write: they are
    cut off (the file is truncated to the last complete line) and that id is simply done
    again. Only our own file is repaired so: the tail is cut when a complete result line
    came before it, or when the file holds nothing else and the tail starts as every
    result line does (``{"id":``). Anything else (another program's file, an input file,
    a JSON document without its newline) is not ours: the run stops with a
    :class:`~sluicegate.bulk.file_errors.RefusedFileError` naming the file and line and
    quoting the line, and the file is left as it was.

The errors file
    One line per bad input line, ``{"line": 17, "id": "r17", "error": "..."}``; a file is
    ours (:func:`check_errors_file`) when it is empty or its first line is such an
    object. It is checked and opened when the run starts (truncated: each run reports the
    bad lines it found), so an unwritable one stops the run before anything is sent, and
    removed at the end when the run found no bad line.

What a line holds. Never a key: error messages, answer texts and tool-call arguments
pass through :func:`~sluicegate.secrets.scrub` (a model asked to repeat a prompt that
held a key would otherwise write it here)::

    {"id": "r1", "line": 1, "model": "mock/fast",
     "response": {"model": "mock/fast", "text": "...", "finish_reason": "stop", "tool_calls": []},
     "usage": {"input_tokens": 12, "output_tokens": 30, "cached_tokens": 0,
               "reasoning_tokens": 0},
     "cost": 0.000012, "latency": 0.052, "attempts": 1}

    {"id": "r2", "line": 2, "model": "mock/fast",
     "error": {"type": "RateLimitedError", "message": "...", "status": 429, "retryable": true},
     "usage": null, "cost": null, "latency": 3.1, "attempts": 4}

With ``--schema`` an answer's line also holds ``"parsed"``: the answer as the schema's
JSON value. A line whose answer never fitted is an error line of type
``StructuredAnswerError`` whose ``cost`` and ``attempts`` are those of all its asks
(they were paid for), so a resumed run's ``--budget`` counts them.

``cost`` is null when the price of the model is unknown; ``attempts`` is 0 for an answer
replayed from an idempotency record (nothing was sent); for an error it is the attempt it
ended with, and null when nothing was sent.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluicegate.bulk.file_errors import FileWriteError, RefusedFileError, quote_line
from sluicegate.bulk.idset import IdSet
from sluicegate.bulk.input import BadLine
from sluicegate.bulk.map import MapResult
from sluicegate.errors import ProviderError, SluicegateError, StructuredAnswerError
from sluicegate.secrets import scrub

__all__ = [
    "BadLineLog",
    "ResultLog",
    "Resumed",
    "check_errors_file",
    "check_results_file",
    "errors_path_for",
    "is_errors_record",
    "is_result_record",
    "open_results",
    "result_record",
    "scan_results",
]

_dumps: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_READ_CHUNK = 1 << 16
_RESULT_START = b'{"id":'
"""How every result line starts (``result_record`` puts ``id`` first, no spaces)."""
_ERRORS_START = b'{"line":'
"""How every errors-file line starts."""
_open_fd: Callable[..., int] = os.open
_write_fd: Callable[[int, Any], int] = os.write
"""The two system calls of the writers, as names a test can replace (a full disk)."""


def is_result_record(value: object) -> bool:
    """Whether a decoded line is a result line of ours (what makes a file ours)."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and "model" in value
        and ("response" in value or "error" in value)
    )


def is_errors_record(value: object) -> bool:
    """Whether a decoded line is a line of our errors file."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("line"), int)
        and isinstance(value.get("error"), str)
        and "id" in value
    )


def _decoded(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _torn_start(tail: bytes, start: bytes) -> bool:
    """Whether ``tail`` (a file's only content, no newline) can be the start of a line of
    ours cut by a crash: it begins as ours do."""
    return tail.startswith(start) or start.startswith(tail)


_NOT_OURS = {
    "output": (
        "is not a result line of 'sluicegate run' (a JSON object with 'id', 'model' and "
        "'response' or 'error'); refusing to append to this file: give another --output"
    ),
    "errors file": (
        "is not a line of a sluicegate errors file (a JSON object with 'line', 'id' and "
        "'error'); refusing to overwrite this file: give another --errors-file"
    ),
}


def _not_ours(path: Path, raw: bytes, number: int, role: str) -> RefusedFileError:
    """The refusal of a file that is not ours, quoting its line."""
    return RefusedFileError(
        f"{quote_line(raw)} {_NOT_OURS[role]}", file=str(path), role=role, line=number
    )


def _regular_or_missing(path: Path, role: str) -> bool:
    """True if ``path`` is a regular file, False if it does not exist; refuses the rest
    (a directory, a device, a pipe: /dev/zero as an output would never end)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise RefusedFileError(
            f"cannot use it as the {role}: {exc.strerror or exc}", file=str(path), role=role
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise RefusedFileError(f"the {role} is a directory", file=str(path), role=role)
    if not stat.S_ISREG(st.st_mode):
        raise RefusedFileError(f"the {role} must be a regular file", file=str(path), role=role)
    return True


_FIRST_LINE_LIMIT = 1 << 20
"""How much of a first line :func:`_first_line` reads: enough to judge it, and bounded
for a huge file without newlines (a longer result line is judged by how it starts, and
read whole by :func:`scan_results`)."""


def _first_line(path: Path) -> tuple[int, bytes] | None:
    """The first non-blank line of a file and its number (with its newline if it has one
    within :data:`_FIRST_LINE_LIMIT` bytes); None for an empty or blank file."""
    with path.open("rb") as stream:
        number = 0
        while raw := stream.readline(_FIRST_LINE_LIMIT):
            number += 1  # (the blank lines before it all end in a newline)
            if raw.strip():
                return number, raw
    return None


def _check_ours(path: Path, role: str, ours: Callable[[object], bool], start: bytes) -> None:
    """Refuse a file for ``role`` that is not a regular file, not ours or not writable;
    ours: missing, blank, a first line that ``ours`` accepts, or (no complete line read)
    bytes that begin as our lines do."""
    exists = _regular_or_missing(path, role)
    if exists:
        first = _first_line(path)
        if first is not None:
            number, raw = first
            complete = raw.endswith(b"\n")
            if not (ours(_decoded(raw)) if complete else _torn_start(raw.lstrip(), start)):
                raise _not_ours(path, raw, number, role)
    _prove_writable(path, role, exists=exists)


def _prove_writable(path: Path, role: str, *, exists: bool) -> None:
    """Open ``path`` for writing without changing it (a file that does not exist yet is
    created and removed again), so that a run that could not write it stops before
    anything is sent. A real open, not ``os.access``: it also answers for root, a
    read-only mount, a missing directory."""
    try:
        if exists:
            os.close(_open_fd(path, os.O_WRONLY | os.O_APPEND))
        else:
            os.close(_open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            path.unlink()
    except FileExistsError:  # created in between: then it is someone's; check it again
        raise RefusedFileError(
            f"the {role} appeared while it was checked; run again", file=str(path), role=role
        ) from None
    except OSError as exc:
        raise RefusedFileError(
            f"cannot write the {role}: {exc.strerror or exc}", file=str(path), role=role
        ) from None


def check_results_file(path: Path) -> None:
    """Refuse an output that is not ours or cannot be written, before anything is sent:
    it must be missing, empty, or begin with a result line (or, with no complete line,
    with the start of one a crash cut); see the module docstring. The other lines are
    checked by :func:`scan_results` as the run reads them for their ids."""
    _check_ours(path, "output", is_result_record, _RESULT_START)


def check_errors_file(path: Path) -> None:
    """Refuse an errors file that is not ours or cannot be written (see the module
    docstring): it must be missing, empty, or begin with an errors-file line."""
    _check_ours(path, "errors file", is_errors_record, _ERRORS_START)


@dataclass(slots=True)
class Resumed:
    """What an existing output file held: the ids done, how many lines, how many bytes of
    a torn last line were cut off (0 if none), and the cost its lines record (what a
    ``--budget`` has already spent)."""

    done: IdSet
    lines: int = 0
    torn_bytes: int = 0
    duplicate_lines: int = 0
    cost: float = 0.0


def scan_results(path: Path) -> Resumed:
    """Read an output file's ids and find a torn tail (not yet cut off: see
    :func:`open_results`). A missing file is an empty one."""
    resumed = Resumed(IdSet())
    if not _regular_or_missing(path, "output"):
        return resumed
    with path.open("rb") as stream:
        number = 0
        for raw in stream:
            if not raw.endswith(b"\n"):
                if resumed.lines == 0 and not _torn_start(raw.lstrip(), _RESULT_START):
                    raise _not_ours(path, raw, number + 1, "output")
                resumed.torn_bytes = len(raw)
                break
            number += 1
            if not raw.strip():
                continue
            line_id, cost = _result_id(raw)
            if line_id is None:
                raise _not_ours(path, raw, number, "output")
            resumed.lines += 1
            resumed.cost += cost
            if not resumed.done.add(line_id):
                resumed.duplicate_lines += 1
    return resumed


def _result_id(raw: bytes) -> tuple[str | None, float]:
    """A result line's id (None if it is not one) and its recorded cost (0 if none)."""
    value = _decoded(raw)
    if not is_result_record(value):
        return None, 0.0
    assert isinstance(value, dict)
    cost = value.get("cost")
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not cost > 0:
        return value["id"], 0.0
    return value["id"], float(cost)


class ResultLog:
    """The output file (or the errors file: ``role``), open for appending one line per
    record; ``truncate`` empties it first."""

    __slots__ = ("_fd", "path", "role", "written")

    def __init__(self, path: Path, *, role: str = "output", truncate: bool = False) -> None:
        self.path = path
        self.role = role
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (os.O_TRUNC if truncate else 0)
        self._fd = _open_fd(path, flags, 0o644)
        self.written = 0

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line, in one system call (a loop only if the kernel
        takes it in parts, which it does not for regular files in practice). A failed
        write (a full disk) is a :class:`FileWriteError` naming the file; a line it cut
        is a torn last line, which the next run cuts off."""
        data = memoryview((_dumps(record) + "\n").encode())
        try:
            while data:
                sent = _write_fd(self._fd, data)
                data = data[sent:]
        except OSError as exc:
            raise FileWriteError(str(self.path), self.role, exc, self.written) from exc
        self.written += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def open_results(path: Path) -> tuple[ResultLog, Resumed]:
    """Scan ``path``, cut off a torn last line, and open it for appending."""
    resumed = scan_results(path)
    if resumed.torn_bytes:
        size = path.stat().st_size
        os.truncate(path, size - resumed.torn_bytes)
    return ResultLog(path), resumed


def errors_path_for(output: Path) -> Path:
    """``out.jsonl`` → ``out.errors.jsonl``; another name gets ``.errors.jsonl`` added."""
    if output.suffix == ".jsonl":
        return output.with_suffix(".errors.jsonl")
    return output.with_name(output.name + ".errors.jsonl")


class BadLineLog:
    """The errors file: one line per bad input line of this run (line, id, reason).

    Every run reads the whole input again and so finds every bad line again: the file is
    rewritten by each run, so it never shows lines that were fixed since. It is never
    deleted blindly: only a file of ours (:func:`check_errors_file`) is truncated, when
    the run starts (so an unwritable one is found before anything is sent), and removed
    at the end if the run found no bad line.
    """

    __slots__ = ("_log", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        check_errors_file(path)
        self._log = ResultLog(path, role="errors file", truncate=True)

    def append(self, bad: BadLine) -> None:
        self._log.append({"line": bad.line, "id": bad.id, "error": scrub(bad.reason)})

    @property
    def count(self) -> int:
        return self._log.written

    def close(self) -> None:
        self._log.close()
        if self._log.written == 0 and not self.path.is_symlink():
            # our own file, empty: a run with no bad line leaves no errors file
            self.path.unlink(missing_ok=True)


def result_record(result: MapResult, line: int | None) -> dict[str, Any]:
    """The output line of one result (see the module docstring for its fields)."""
    request = result.request
    record: dict[str, Any] = {"id": result.caller_id, "line": line, "model": request.model}
    response = result.response
    if response is not None:
        usage = response.usage
        record["response"] = {
            "model": response.model,
            "text": scrub(response.text),
            "finish_reason": response.finish_reason,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": scrub(c.arguments)}
                for c in response.tool_calls
            ],
        }
        record["usage"] = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cached_tokens": usage.cached_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
        }
        if response.parsed is not None:
            record["parsed"] = parsed_value(response.parsed)
        record["cost"] = response.cost
        record["latency"] = round(result.latency, 6)
        record["attempts"] = response.attempts
        return record
    error = result.error
    record["error"] = error_record(error)
    record["usage"] = None
    # what was spent on a failed line: the asks of a structured answer that never fitted
    record["cost"] = error.cost if isinstance(error, StructuredAnswerError) else None
    record["latency"] = round(result.latency, 6)
    record["attempts"] = error.attempts if isinstance(error, SluicegateError) else None
    return record


def parsed_value(parsed: Any) -> Any:
    """A structured answer as JSON values (a pydantic model dumped in JSON mode), its
    strings scrubbed like every text this file holds."""
    dump = getattr(parsed, "model_dump", None)
    return scrub_strings(dump(mode="json") if callable(dump) else parsed)


def scrub_strings(value: Any) -> Any:
    """``value`` with :func:`scrub` applied to every string in it, keys included."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(k)): scrub_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_strings(v) for v in value]
    return value


def error_record(error: BaseException | None) -> dict[str, Any]:
    """``type``, ``message`` (scrubbed), ``status`` and ``retryable`` of an error."""
    if isinstance(error, SluicegateError):
        message = error.message
    else:
        message = scrub(str(error) or repr(error))
    return {
        "type": type(error).__name__,
        "message": message,
        "status": error.status if isinstance(error, ProviderError) else None,
        "retryable": bool(getattr(error, "retryable", False)),
    }
