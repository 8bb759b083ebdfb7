"""Keep the C heap of a ``sluicegate run`` process from filling with holes.

On asyncio every read of a socket is ``sock.recv(256 KiB)`` (the selector transport's
``max_size``): a 256 KiB block, at once shrunk to the few hundred bytes an answer holds.
glibc serves blocks from 128 KiB up with ``mmap`` (given back whole when freed) until a
larger ``mmap``-ed block is freed whole; then it raises that threshold to the freed
size. The first read that finds a connection closed (it returns ``b""``, so its 256 KiB
block is freed unshrunk) does that. From then on each read takes 256 KiB from the heap
and leaves the rest of it free behind the answer it keeps; what is allocated next for
good (the id set's buckets) lands after it, so the heap only grows and its free part
does not go back. Measured with ``mallinfo2`` over 200,000 lines: 4.3 MB of free heap on
asyncio (1.9 on trio, which reads 64 KiB), 0.6 MB with the threshold pinned; the
million-line run's peak was 8 MB above its resume's.

:func:`pin_mmap_threshold` sets the threshold to glibc's default, 128 KiB; a set
threshold is never raised, so the reads keep going to ``mmap``. It costs a ``mmap`` and
``munmap`` per read, microseconds beside a request. It changes the whole process, so it
is for the ``sluicegate run`` command, which owns its process, not for library code
(:func:`~sluicegate.bulk.runner.run_file` does not call it). ``MALLOC_MMAP_THRESHOLD_``
in the environment wins (glibc reads it at start; this then does nothing).
"""

from __future__ import annotations

import os
import sys

__all__ = ["MMAP_THRESHOLD", "pin_mmap_threshold"]

MMAP_THRESHOLD = 128 * 1024
"""glibc's default ``M_MMAP_THRESHOLD``: blocks from this size up are ``mmap``-ed."""
_M_MMAP_THRESHOLD = -3
"""``mallopt``'s parameter number for it (``<malloc.h>``)."""


def pin_mmap_threshold() -> bool:
    """Pin glibc's ``mmap`` threshold at :data:`MMAP_THRESHOLD`; True if it was set (on
    Linux with glibc, and ``MALLOC_MMAP_THRESHOLD_`` not set), False elsewhere."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  glibc's own symbol: not musl's mallopt stub
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
