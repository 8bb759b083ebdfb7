"""Serve sluicegate's own mock app (Starlette) under hypercorn, only to measure its capacity.

The benchmark's peer is bench/fast_server.py; this exists so the benchmark can show why:
it prints how many requests per second the mock server sustains on one core. It prefers
the public ``sluicegate.testing.create_app`` and falls back to the module that defines it;
if neither exists yet it prints ``MISSING <reason>`` and exits with status 3, and the
benchmark skips the line with a note.

Run: ``python bench/mock_server.py --port 8123 --cpu 1``; the caller polls the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

MISSING_EXIT = 3


def _load_factory() -> Callable[[], Any]:
    """The mock app factory, wherever the mock server's package currently exposes it."""
    for module in ("sluicegate.testing", "sluicegate.testing.mock_app"):
        with contextlib.suppress(ImportError):
            factory: Callable[[], Any] | None = getattr(
                importlib.import_module(module), "create_app", None
            )
            if factory is not None:
                return factory
    raise ImportError("no create_app in sluicegate.testing")


async def serve(port: int) -> None:
    """Run the mock app until SIGTERM/SIGINT."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    app = _load_factory()()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.backlog = 4096
    config.keep_alive_timeout = 60.0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        _load_factory()
    except ImportError as exc:
        print(f"MISSING {exc}", flush=True)
        sys.exit(MISSING_EXIT)
    import uvloop

    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
