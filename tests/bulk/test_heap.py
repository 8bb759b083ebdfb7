"""``pin_mmap_threshold``: once a 256 KiB read finds its socket closed (its block is freed
whole), glibc serves the next 256 KiB block (an asyncio socket read) from the heap;
pinned, from ``mmap`` still. Each check runs in a fresh interpreter, as it changes that
process's allocator."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

_LIBC, _VERSION = platform.libc_ver()
pytestmark = pytest.mark.skipif(
    sys.platform != "linux"
    or _LIBC != "glibc"
    or tuple(int(part) for part in _VERSION.split(".")[:2]) < (2, 33),
    reason="glibc 2.33 or later (mallinfo2)",
)

_WHERE = """
import ctypes, sys

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    ).split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info

def where():
    before = libc.mallinfo2().hblkhd
    block = bytearray(256 * 1024)
    return "mmap" if libc.mallinfo2().hblkhd > before else "heap"

import socket
from sluicegate.bulk.heap import pin_mmap_threshold
pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else None
ours, peer = socket.socketpair()
peer.close()
assert ours.recv(256 * 1024) == b""  # what asyncio's transport does at a closed connection
print(pinned, where())
"""


def _where(env: dict[str, str], pin: bool) -> list[str]:
    command = [sys.executable, "-c", _WHERE, "pin" if pin else "leave"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return out.stdout.split()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    return {**env, **extra}


def test_after_a_closed_connection_a_256_kib_read_comes_from_the_heap() -> None:
    assert _where(_env(), pin=False) == ["None", "heap"]


def test_pinned_a_256_kib_read_is_still_mmap_ed() -> None:
    assert _where(_env(), pin=True) == ["True", "mmap"]


def test_a_threshold_set_in_the_environment_is_left_alone() -> None:
    assert _where(_env(MALLOC_MMAP_THRESHOLD_="1048576"), pin=True) == ["False", "heap"]
