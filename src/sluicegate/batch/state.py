"""The state file of a batch run: which provider jobs hold which input lines.

``OUTPUT.batches.json`` sits next to the output file. It is written as soon as each job is
created (before the next one is submitted), so a process killed at any point, run again
with the same command, finds its jobs and reattaches to them instead of submitting the
same lines again and paying twice; only lines that no job holds are submitted.

What it holds::

    {"version": 1,
     "input": "/abs/path/in.jsonl", "input_sha256": "…",
     "jobs": [{"id": "batch_…", "provider": "openai", "attempt": 1, "count": 1000,
               "lines": [[1, 1000, 0]], "created": 1767225600.0,
               "state": "running", "collected": false}, …],
     "fates": {"resubmitted": 0, "recovered": 0, …}}

``lines`` are runs ``[first line, last line, byte offset of the first]`` of consecutive
input lines (one run for a plain input; more when lines were skipped or resubmitted), so
the file stays small however many lines a job holds, and a job's lines are read back by
seeking to them. ``attempt`` is 1 for a first submission and one more for each
resubmission of failed items. A job is ``collected`` once its results were written (or
resubmitted); the state file then only remembers it. No key is ever written here.

Every write goes to a temporary file in the same directory, is flushed to disk, and
replaces the old file with ``os.replace``: a reader (or a process killed mid-write) sees
the old state or the new, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluicegate.errors import BadInputError

__all__ = ["BatchState", "JobRecord", "file_digest", "state_path_for"]

STATE_VERSION = 1
FATES = ("resubmitted", "recovered", "failed_after_limit", "failed", "retried_live", "canceled")


def state_path_for(output: Path) -> Path:
    """``out.jsonl`` → ``out.jsonl.batches.json``."""
    return output.with_name(output.name + ".batches.json")


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(slots=True)
class JobRecord:
    """One provider job of the run."""

    id: str
    provider: str
    attempt: int
    count: int
    lines: list[list[int]]
    created: float = field(default_factory=time.time)
    state: str = ""
    collected: bool = False

    def line_numbers(self) -> Iterator[int]:
        for first, last, _ in self.lines:
            yield from range(first, last + 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "attempt": self.attempt,
            "count": self.count,
            "lines": self.lines,
            "created": self.created,
            "state": self.state,
            "collected": self.collected,
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> JobRecord:
        try:
            record = cls(
                id=str(value["id"]),
                provider=str(value["provider"]),
                attempt=int(value["attempt"]),
                count=int(value["count"]),
                lines=[[int(a), int(b), int(c)] for a, b, c in value["lines"]],
                created=float(value.get("created") or 0.0),
                state=str(value.get("state") or ""),
                collected=bool(value.get("collected")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInputError(f"malformed job record ({exc!r})", file=where) from None
        return record


@dataclass(slots=True)
class BatchState:
    """The state file's content, and where it lives."""

    path: Path
    input: str
    input_sha256: str
    jobs: list[JobRecord] = field(default_factory=list)
    fates: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FATES, 0))

    @classmethod
    def load(cls, path: Path) -> BatchState | None:
        """The state at ``path``, or None when there is none."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise BadInputError(
                f"not a batch state file (not JSON: {exc}); move it away to start over",
                file=str(path),
            ) from None
        if not isinstance(value, dict) or value.get("version") != STATE_VERSION:
            raise BadInputError(
                f"not a batch state file of version {STATE_VERSION}", file=str(path)
            )
        fates = dict.fromkeys(FATES, 0)
        for name, count in (value.get("fates") or {}).items():
            if name in fates and isinstance(count, int):
                fates[name] = count
        return cls(
            path=path,
            input=str(value.get("input") or ""),
            input_sha256=str(value.get("input_sha256") or ""),
            jobs=[JobRecord.from_json(job, str(path)) for job in value.get("jobs") or ()],
            fates=fates,
        )

    def save(self) -> None:
        """Write atomically: a temporary file, flushed to disk, then ``os.replace``."""
        data = json.dumps(
            {
                "version": STATE_VERSION,
                "input": self.input,
                "input_sha256": self.input_sha256,
                "jobs": [job.to_json() for job in self.jobs],
                "fates": self.fates,
            },
            separators=(",", ":"),
        ).encode()
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with temporary.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.path)
        try:  # the rename itself survives a power cut once the directory is synced
            directory = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(directory)
        except OSError:
            pass
        finally:
            os.close(directory)

    # -- jobs -----------------------------------------------------------------------------

    def add(self, record: JobRecord) -> None:
        """Record a job just created, and save at once."""
        self.jobs.append(record)
        self.save()

    def find(self, provider: str, job_id: str) -> JobRecord | None:
        for record in self.jobs:
            if record.id == job_id and record.provider == provider:
                return record
        return None

    def uncollected(self) -> list[JobRecord]:
        return [record for record in self.jobs if not record.collected]

    def covered_lines(self) -> array[int]:
        """The input lines held by jobs not yet collected, sorted: a run skips them (their
        job will answer them)."""
        lines = array("Q")
        for record in self.uncollected():
            lines.extend(record.line_numbers())
        return array("Q", sorted(lines))

    def resubmitted_lines(self, record: JobRecord) -> set[int]:
        """Lines held by later jobs of a higher attempt (the resubmissions of ``record``'s
        failed items): when ``record`` is collected again after a crash, those lines are
        theirs to answer, not ``record``'s."""
        later: set[int] = set()
        seen = False
        for other in self.jobs:
            if other is record:
                seen = True
            elif seen and other.attempt > record.attempt:
                later.update(other.line_numbers())
        return later

    def count(self, fate: str, n: int = 1) -> None:
        self.fates[fate] = self.fates.get(fate, 0) + n
