"""A 1 GB answer and an endless SSE line against a client with DEFAULT settings: each must
end in a typed sluicegate error, with the client process's peak RSS under 200 MB.

The hostile server (tests/hostile_server.py) runs in this process; each case runs the
client in a fresh subprocess (``--child``), which makes one call with ``Client()``'s
defaults (``max_response_bytes`` 32 MiB, ``max_event_bytes`` 8 MiB) and reports the error
it got and its own peak RSS (``ru_maxrss``). Cases, on asyncio (aiohttp) and trio (httpx2),
and on httpx2 under asyncio:

- ``1gb-body``: a 200 with ``content-length: 1073741824`` and that many bytes, sent as
  fast as the client reads;
- ``1gb-body-no-length``: the same with no length (the body ends when the connection does);
- ``endless-sse-line``: a 200 event stream whose first line never ends.

    .venv/bin/python bench/hostile_memory.py          # about half a minute

Exit status 0 when every case ends in a typed error under the RSS bound, else 1.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

RSS_BOUND_MB = 200.0
GIB = 2**30
CHUNK = b"x" * 65536
CASES = ("1gb-body", "1gb-body-no-length", "endless-sse-line")
RUNS = (("asyncio", "auto"), ("trio", "auto"), ("asyncio", "httpx2"))


def _register() -> None:
    import anyio.abc

    from hostile_server import RawRequest, behaviour, http_head

    async def gigabyte(stream: anyio.abc.ByteStream) -> None:
        for _ in range(GIB // len(CHUNK)):
            await stream.send(CHUNK)

    @behaviour("1gb-body")
    async def _body(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
        head = {"content-type": "application/json", "content-length": str(GIB)}
        await stream.send(http_head(200, head))
        await gigabyte(stream)

    @behaviour("1gb-body-no-length")
    async def _body_no_length(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
        await stream.send(http_head(200, {"content-type": "application/json"}))
        await gigabyte(stream)

    @behaviour("endless-sse-line")
    async def _line(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
        await stream.send(http_head(200, {"content-type": "text/event-stream"}) + b"data: ")
        await gigabyte(stream)


def child(case: str, backend: str, transport: str, base_url: str) -> None:
    """One call with the default client; prints one JSON line."""
    import anyio

    from sluicegate import Client, ProviderSettings
    from sluicegate.errors import SluicegateError

    async def call() -> dict[str, object]:
        started = time.perf_counter()
        outcome: dict[str, object] = {}
        async with Client(
            providers={"openai": ProviderSettings(base_url=base_url, api_key="sk-bench")},
            transport=transport,
            load_entry_points=False,
        ) as client:
            try:
                if case == "endless-sse-line":
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
        return outcome

    outcome = anyio.run(call, backend=backend)
    outcome["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(outcome))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=4, metavar=("CASE", "BACKEND", "TRANSPORT", "URL"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    from hostile_server import hostile_server

    _register()
    failures = 0
    with hostile_server() as server:
        for case in CASES:
            for backend, transport in RUNS:
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        case,
                        backend,
                        transport,
                        server.base_url,
                    ],
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                lines = done.stdout.strip().splitlines()
                outcome = json.loads(lines[-1]) if lines else {"error": "no output"}
                rss = float(outcome.get("peak_rss_mb", 1e9))
                typed = bool(outcome.get("error")) and not str(outcome["error"]).startswith(
                    ("UNTYPED", "no output")
                )
                ok = typed and rss < RSS_BOUND_MB
                failures += not ok
                print(
                    f"{'PASS' if ok else 'FAIL'} {case:<20} {backend:<7} {transport:<6} "
                    f"peak RSS {rss:7.1f} MB  {outcome.get('seconds', '?')} s  "
                    f"{outcome.get('error')} ({outcome.get('error_type')}): "
                    f"{outcome.get('message', '')}"
                )
                if done.returncode and done.stderr:
                    print(done.stderr[-2000:], file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
