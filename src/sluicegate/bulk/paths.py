"""The files a run uses (input, output, errors file, batch state file) must be different
files: checked before anything is opened for writing, by both run modes.

"The same file" means the same path once symlinks are followed, or, for files that
exist, the same device and inode: a hard link has a path of its own but writing to it
writes the other. Without this check an errors file named like the input deleted the
input, and an output hard-linked to the input looked finished ("5 already there").

A pipe or a terminal given as the input (``/dev/stdin``) has an inode of its own, on a
device no regular file is on: it never matches an output, unless the shell redirected a
file into it (``< out.jsonl``), which is then rightly refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sluicegate.bulk.file_errors import SameFileError

__all__ = ["check_distinct", "check_run_files", "check_run_paths"]

_HINTS = {
    "output": "give another --output",
    "errors file": "give another --errors-file",
    "batch state file": "give another --output (the state file is OUTPUT.batches.json)",
}


def _identity(path: Path) -> tuple[str, tuple[int, int] | None]:
    """The path with every symlink followed, and (device, inode) when the file exists."""
    resolved = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError:  # missing (it will be created), or not reachable: its path decides
        return resolved, None
    return resolved, (st.st_dev, st.st_ino)


def check_distinct(files: Iterable[tuple[str, Path | None]]) -> None:
    """Refuse two ``(role, path)`` pairs that are one file (None: a role not used).

    The error names both paths and roles; its ``file`` and ``role`` are the later pair's
    (give the input first: the file to change is then always the one written)."""
    seen: list[tuple[str, Path, str, tuple[int, int] | None]] = []
    for role, path in files:
        if path is None:
            continue
        resolved, inode = _identity(path)
        for other_role, other, other_resolved, other_inode in seen:
            if resolved != other_resolved and (inode is None or inode != other_inode):
                continue
            if resolved != other_resolved:
                how = " (a hard link: the same device and inode)"
            elif str(path) != str(other):
                how = f" (both are {resolved})"
            else:
                how = ""
            hint = _HINTS.get(role, f"give another {role}")
            raise SameFileError(
                f"the {role} {path} is the {other_role} {other}{how}; refusing to run "
                f"(nothing was written): {hint}",
                file=str(path),
                role=role,
                other=str(other),
                other_role=other_role,
            )
        seen.append((role, path, resolved, inode))


def check_run_paths(
    input: Path | None,
    output: Path,
    errors_file: Path | None,
    state_file: Path | None = None,
) -> None:
    """The check of a run's files, in the order the messages name them."""
    check_distinct(
        [
            ("input", input),
            ("output", output),
            ("errors file", errors_file),
            ("batch state file", state_file),
        ]
    )


def check_run_files(
    input: Path | None,
    output: Path,
    errors_file: Path | None,
    state_file: Path | None = None,
) -> None:
    """Everything a run checks of its files before it opens one for writing: no two are
    one file; the output and the errors file are ours (or missing) and writable (see
    :mod:`sluicegate.bulk.output`). Raises
    :class:`~sluicegate.bulk.file_errors.RefusedFileError`."""
    from sluicegate.bulk.output import check_errors_file, check_results_file

    check_run_paths(input, output, errors_file, state_file)
    check_results_file(output)
    if errors_file is not None:
        check_errors_file(errors_file)
