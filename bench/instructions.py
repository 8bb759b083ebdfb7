"""Instructions per request, counted by valgrind: the CPU benchmark without its noise.

bench/http_clients.py times CPU per request, and on a shared 2-core machine its ratios
move by ±0.05 from run to run, as large as the changes one wants to judge. This counts
the user-space instructions (valgrind's callgrind, ``Ir``) each client executes per
request against bench/fast_server.py at C=1: the same number on every run, whatever else
the machine does. Each client runs twice under valgrind, with ``--small`` and ``--large``
requests after the same warm-up; the difference divided by the extra requests is its
count per request, start-up and warm-up cancelled out. Kernel time (the sockets' system
calls) is not counted, so these ratios are larger than the CPU-time ratios: use them to
compare two versions of sluicegate (``--base <tree>`` runs the sluicegate clients on
that tree's ``src/`` too), and http_clients.py for the targets.

Needs valgrind (Debian's ``valgrind`` package). Run:
``python bench/instructions.py [--base /path/to/other/checkout]`` (about 4 minutes).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORKER = BENCH / "client_worker.py"

PAIRS = (("sluicegate-asyncio", "native-asyncio"), ("sluicegate-trio", "native-trio"))
"""Each sluicegate client and the raw transport it sits on."""

_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(client: str, base_url: str, requests: int, pythonpath: str | None) -> int:
    """The instructions one worker process executed, start to end."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            str(WORKER),
            "--client",
            client,
            "--base-url",
            base_url,
            "--concurrency",
            "1",
            "--requests",
            str(requests),
            "--warmup",
            "50",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{client}: the worker failed under valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(client: str, base_url: str, small: int, large: int, tree: str | None) -> float:
    low = instructions(client, base_url, small, tree)
    high = instructions(client, base_url, large, tree)
    return (high - low) / (large - small)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100, help="requests of the short run")
    parser.add_argument("--large", type=int, default=1100, help="requests of the long run")
    parser.add_argument("--base", type=Path, default=None, help="another checkout to compare")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    sys.path.insert(0, str(BENCH))
    from http_clients import running, start_fast_server

    base_src = str(args.base.resolve() / "src") if args.base is not None else None
    rows: list[tuple[str, float, float | None, float]] = []
    with running(start_fast_server(0, 1)) as server:
        url = server.base_url
        for ours, raw in PAIRS:
            raw_ir = per_request(raw, url, args.small, args.large, None)
            our_ir = per_request(ours, url, args.small, args.large, None)
            base_ir = (
                per_request(ours, url, args.small, args.large, base_src)
                if base_src is not None
                else None
            )
            rows.append((ours, our_ir, base_ir, raw_ir))
            print(f"  {ours}: {our_ir:,.0f} Ir/req; {raw}: {raw_ir:,.0f}", flush=True)
    print("\nInstructions per request at C=1, 0 ms (valgrind callgrind, user space only)\n")
    base_head = " | base Ir/req | this vs base" if base_src is not None else ""
    print(f"| client | Ir/req | vs raw transport{base_head} |")
    print("|---|---|---" + ("|---|---" if base_src is not None else "") + "|")
    for name, ir, base_ir, raw_ir in rows:
        line = f"| {name} | {ir:,.0f} | {ir / raw_ir:.2f}x"
        if base_ir is not None:
            line += f" | {base_ir:,.0f} | {ir / base_ir:.3f}x"
        print(line + " |")


if __name__ == "__main__":
    main()
