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
    (ending in a newline) must be a JSON object with an ``id``, and those ids are done.
    Bytes after the last newline are a line torn by a crash mid-write: they are cut off
    (the file is truncated to the last complete line) and that id is simply done again.
    A complete line that is not a result is not ours to repair: the run stops with a
    :class:`~sluicegate.errors.BadInputError` naming the file and line.

What a line holds. Never a key: error messages, answer texts and tool-call arguments
pass through :func:`~sluicegate.secrets.scrub` (a model asked to repeat a prompt that
held a key would otherwise write it here)::

    {"id": "r1", "line": 1, "model": "mock/fast",
     "response": {"model": "mock/fast", "text": "...", "finish_reason": "stop", "tool_calls": []},
     "usage": {"input_tokens": 12, "output_tokens": 30, "cached_tokens": 0},
     "cost": 0.000012, "latency": 0.052, "attempts": 1}

    {"id": "r2", "line": 2, "model": "mock/fast",
     "error": {"type": "RateLimitedError", "message": "...", "status": 429, "retryable": true},
     "usage": null, "cost": null, "latency": 3.1, "attempts": 4}

``cost`` is null when the price of the model is unknown; ``attempts`` is 0 for an answer
replayed from an idempotency record (nothing was sent); for an error it is the attempt it
ended with, and null when nothing was sent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluicegate.bulk.idset import IdSet
from sluicegate.bulk.input import BadLine
from sluicegate.bulk.map import MapResult
from sluicegate.errors import BadInputError, ProviderError, SluicegateError
from sluicegate.secrets import scrub

__all__ = [
    "BadLineLog",
    "ResultLog",
    "Resumed",
    "errors_path_for",
    "open_results",
    "result_record",
    "scan_results",
]

_dumps: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_READ_CHUNK = 1 << 16


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
    if not path.exists():
        return resumed
    if not path.is_file():  # a device or a pipe cannot be resumed (and /dev/zero never ends)
        raise BadInputError("the output must be a regular file", file=str(path))
    with path.open("rb") as stream:
        number = 0
        for raw in stream:
            if not raw.endswith(b"\n"):
                resumed.torn_bytes = len(raw)
                break
            number += 1
            if not raw.strip():
                continue
            line_id, cost = _result_id(raw)
            if line_id is None:
                raise BadInputError(
                    "is not a result line of 'sluicegate run' (a JSON object with an 'id'); "
                    "refusing to append to this file: give another --output",
                    file=str(path),
                    line=number,
                )
            resumed.lines += 1
            resumed.cost += cost
            if not resumed.done.add(line_id):
                resumed.duplicate_lines += 1
    return resumed


def _result_id(raw: bytes) -> tuple[str | None, float]:
    """A result line's id (None if it is not one) and its recorded cost (0 if none)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None, 0.0
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return None, 0.0
    cost = value.get("cost")
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not cost > 0:
        return value["id"], 0.0
    return value["id"], float(cost)


class ResultLog:
    """The output file, open for appending one line per result."""

    __slots__ = ("_fd", "path", "written")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.written = 0

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line, in one system call (a loop only if the kernel
        takes it in parts, which it does not for regular files in practice)."""
        data = memoryview((_dumps(record) + "\n").encode())
        while data:
            sent = os.write(self._fd, data)
            data = data[sent:]
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
    rewritten by each run (removed at the start, created at the first bad line), so it
    never shows lines that were fixed since.
    """

    __slots__ = ("_log", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._log: ResultLog | None = None
        path.unlink(missing_ok=True)

    def append(self, bad: BadLine) -> None:
        if self._log is None:
            self._log = ResultLog(self.path)
        self._log.append({"line": bad.line, "id": bad.id, "error": scrub(bad.reason)})

    @property
    def count(self) -> int:
        return self._log.written if self._log is not None else 0

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


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
        }
        record["cost"] = response.cost
        record["latency"] = round(result.latency, 6)
        record["attempts"] = response.attempts
        return record
    record["error"] = error_record(result.error)
    record["usage"] = None
    record["cost"] = None
    record["latency"] = round(result.latency, 6)
    error = result.error
    record["attempts"] = error.attempts if isinstance(error, SluicegateError) else None
    return record


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
