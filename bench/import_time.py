"""How long importing sluicegate takes, beside a bare interpreter and the SDKs.

Each figure is the median wall time of many fresh interpreters (``python -c ...``), run
interleaved so that load on the machine spreads over every statement alike; the table
shows each one's time over a bare ``python -c pass``. Then issue 14's target, PASS/FAIL:
``import sluicegate`` ≤ +60 ms. What the imports load (not how long) is guarded by
tests/test_import_cost.py.

Run: ``python bench/import_time.py`` (about a minute) or ``--runs 10``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time

STATEMENTS = {
    "bare python": "pass",
    "import sluicegate": "import sluicegate",
    "from sluicegate import Client": "from sluicegate import Client",
    "sluicegate.Client() built": "import sluicegate; sluicegate.Client()",
    "import openai": "import openai",
    "import anthropic": "import anthropic",
    "import litellm": "import litellm",
}
PEERS = {"import openai": "openai", "import anthropic": "anthropic", "import litellm": "litellm"}
TARGET_MS = 60.0


def wall_s(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="interpreters per statement [40]")
    args = parser.parse_args()
    statements = {  # the peers that are installed
        label: code
        for label, code in STATEMENTS.items()
        if label not in PEERS or importlib.util.find_spec(PEERS[label]) is not None
    }
    times: dict[str, list[float]] = {label: [] for label in statements}
    for code in statements.values():  # warm the file cache once
        wall_s(code)
    for _ in range(args.runs):
        for label, code in statements.items():
            times[label].append(wall_s(code))
    medians = {label: statistics.median(values) * 1000 for label, values in times.items()}
    bare = medians["bare python"]
    print(f"medians of {args.runs} fresh interpreters each, {sys.executable}")
    print(f"{'statement':<34} {'median ms':>10} {'over bare':>10}")
    for label, ms in medians.items():
        print(f"{label:<34} {ms:>10.1f} {ms - bare:>+10.1f}")
    over = medians["import sluicegate"] - bare
    verdict = "PASS" if over <= TARGET_MS else "FAIL"
    print(f"\n  {verdict}  import sluicegate: +{over:.1f} ms over bare python (target ≤ +60 ms)")
    client = medians["from sluicegate import Client"] - bare
    print(f"  (from sluicegate import Client: +{client:.1f} ms, not a target)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
