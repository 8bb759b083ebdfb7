"""The errors of a run's own files: a file it refuses to touch (checked before anything is
opened for writing), and a write that failed mid-run (a full disk).

They are typed apart from the other input errors because they end a command differently:
a refused file is a usage error (nothing was sent, fix the command line), a failed write
is an I/O error (what was written stays, the rest is pending for the next run)."""

from __future__ import annotations

from sluicegate.errors import BadInputError, SluicegateError

__all__ = ["FileWriteError", "RefusedFileError", "SameFileError", "quote_line"]

QUOTE_CHARS = 80
"""How much of a foreign file's first line an error quotes."""


def quote_line(raw: bytes) -> str:
    """A file's line as an error quotes it: decoded leniently, shortened to
    :data:`QUOTE_CHARS`, newline dropped, as a Python literal (control bytes visible)."""
    text = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    return repr(text)


class RefusedFileError(BadInputError):
    """A file the run must not write: not one of ours, unwritable, or another role's
    file. ``role`` is what the run would have used it as (``output``, ``errors file``,
    ``batch state file``). Raised before anything is opened for writing."""

    def __init__(
        self, message: str, *, file: str, role: str, line: int | None = None, named: bool = False
    ) -> None:
        self.role = role
        if named:  # the message names the file itself: no "file: " prefix
            super().__init__(message)
            self.file, self.line = file, line
        else:
            super().__init__(message, file=file, line=line)


class SameFileError(RefusedFileError):
    """Two of a run's files (input, output, errors file, batch state file) are one file:
    the same path, a symlink to it, or a hard link (same device and inode)."""

    def __init__(self, message: str, *, file: str, role: str, other: str, other_role: str) -> None:
        self.other = other
        self.other_role = other_role
        super().__init__(message, file=file, role=role, named=True)


class FileWriteError(SluicegateError):
    """A write to the output or errors file failed mid-run (a full disk, a quota, an I/O
    error). ``path`` and ``role`` name the file, ``errno``/``reason`` the OS's cause;
    ``written`` is how many lines this run had written to that file before (they stay;
    a line cut by the failure is a torn last line the next run cuts off)."""

    def __init__(self, path: str, role: str, error: OSError, written: int) -> None:
        self.path = path
        self.role = role
        self.errno = error.errno
        self.reason = error.strerror or str(error) or type(error).__name__
        self.written = written
        super().__init__(f"cannot write {path}: {self.reason}")
