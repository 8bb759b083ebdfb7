"""A full disk without a full disk: the output layer's write fails with ENOSPC for one
file once some lines were written to it."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest


def full_disk_after(monkeypatch: pytest.MonkeyPatch, path: Path, lines: int) -> None:
    """Writes to ``path`` fail with ENOSPC once ``lines`` lines were written to it (the
    output layer's one system call, injected)."""
    from sluicegate.bulk import output

    real = output._write_fd
    count = {"n": 0}
    fds: set[int] = set()
    real_open = output._open_fd

    def open_fd(name: Path, flags: int, mode: int = 0o644) -> int:
        fd = real_open(name, flags, mode)
        if Path(name) == path:
            fds.add(fd)
        return fd

    def write(fd: int, data: Any) -> int:
        if fd in fds:
            if count["n"] >= lines:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            count["n"] += 1
        return real(fd, data)

    monkeypatch.setattr(output, "_open_fd", open_fd)
    monkeypatch.setattr(output, "_write_fd", write)
