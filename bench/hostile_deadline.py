"""A server that drips one byte a second (in its headers, or in its body) and an SSE stream
of keep-alive comments only, against a client with DEFAULT settings: each must end in a
typed timeout (``deadline_exceeded``) within the documented default total deadline,
``Client(total_timeout=600.0)``, though the per-gap read timer (120 s) never fires.

The hostile server (tests/hostile_server.py) runs in this process; every case runs the
client in a fresh subprocess (``--child``), all at once, on asyncio (aiohttp) and trio
(httpx2). Each takes the whole default deadline, so the run takes about 10 minutes;
``--total-timeout`` runs the same with a shorter one (a smoke run).

    .venv/bin/python bench/hostile_deadline.py                     # ~10 minutes
    .venv/bin/python bench/hostile_deadline.py --total-timeout 5   # ~5 s

Exit status 0 when every case ends in a typed timeout no later than the deadline plus
5 s, else 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

DEFAULT_TOTAL_TIMEOUT = 600.0
SLACK_S = 5.0
CASES = ("drip-headers", "drip-body", "comments-only")
RUNS = (("asyncio", "auto"), ("trio", "auto"))


def _register() -> None:
    import anyio
    import anyio.abc

    from hostile_server import RawRequest, behaviour, http_head

    async def drip(stream: anyio.abc.ByteStream, data: bytes) -> None:
        for index in range(len(data)):
            await stream.send(data[index : index + 1])
            await anyio.sleep(1.0)

    @behaviour("drip-headers")
    async def _headers(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
        await drip(stream, http_head(200, {"x-padding": "p" * 4000}))

    @behaviour("drip-body")
    async def _body(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
        head = {"content-type": "application/json", "content-length": "4000"}
        await stream.send(http_head(200, head))
        await drip(stream, b" " * 4000)

    @behaviour("comments-only")
    async def _comments(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
        await stream.send(http_head(200, {"content-type": "text/event-stream"}))
        for _ in range(4000):
            await stream.send(b": ping\n\n")
            await anyio.sleep(1.0)


def child(case: str, backend: str, transport: str, base_url: str, total: str) -> None:
    """One call with the default client (or the given total timeout); one JSON line."""
    import anyio

    from sluicegate import Client, ProviderSettings
    from sluicegate.errors import SluicegateError

    options = {} if total == "default" else {"total_timeout": float(total)}

    async def call() -> dict[str, object]:
        outcome: dict[str, object] = {}
        async with Client(
            providers={"openai": ProviderSettings(base_url=base_url, api_key="sk-bench")},
            transport=transport,
            load_entry_points=False,
            **options,  # type: ignore[arg-type]
        ) as client:
            started = time.perf_counter()  # the call alone: not imports, nor the close
            try:
                if case == "comments-only":
                    async with client.stream(f"openai/{case}", "hi") as answer:
                        await answer.final_response()
                else:
                    await client.chat(f"openai/{case}", "hi")
                outcome["error"] = None
            except SluicegateError as exc:
                outcome["error"] = type(exc).__name__
                outcome["error_type"] = getattr(exc, "error_type", None)
                outcome["message"] = exc.message
            except BaseException as exc:  # untyped: what this benchmark is there to catch
                outcome["error"] = f"UNTYPED {type(exc).__name__}"
                outcome["message"] = repr(exc)[:300]
            outcome["seconds"] = round(time.perf_counter() - started, 2)
        outcome["with_close_s"] = round(time.perf_counter() - started, 2)
        return outcome

    print(json.dumps(anyio.run(call, backend=backend)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total-timeout", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--child", nargs=5, metavar=("CASE", "BACKEND", "TRANSPORT", "URL", "T"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    from hostile_server import hostile_server

    _register()
    total = args.total_timeout
    limit = (total if total is not None else DEFAULT_TOTAL_TIMEOUT) + SLACK_S
    failures = 0
    with hostile_server() as server:
        children = [
            (
                case,
                backend,
                transport,
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        case,
                        backend,
                        transport,
                        server.base_url,
                        "default" if total is None else str(total),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for case in CASES
            for backend, transport in RUNS
        ]
        for case, backend, transport, process in children:
            out, err = process.communicate(timeout=limit + 300)
            lines = out.strip().splitlines()
            outcome = json.loads(lines[-1]) if lines else {"error": "no output"}
            seconds = float(outcome.get("seconds", 1e9))
            ok = outcome.get("error_type") == "deadline_exceeded" and seconds <= limit
            failures += not ok
            print(
                f"{'PASS' if ok else 'FAIL'} {case:<14} {backend:<7} {transport:<6} "
                f"{seconds:8.2f} s (closed {outcome.get('with_close_s')} s)  "
                f"{outcome.get('error')} ({outcome.get('error_type')}): "
                f"{outcome.get('message', '')}",
                flush=True,
            )
            if process.returncode and err:
                print(err[-2000:], file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
