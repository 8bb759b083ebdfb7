"""A review-sentiment batch from a CSV: every row classified, resumable, then tallied.

This is the `sluicegate run` command the README shows, with a schema, so each answer is a
label to count rather than prose to parse:

    sluicegate run examples/reviews.csv -o reviews.jsonl -m mock/fast \\
        --template "Classify this review as positive, negative or mixed: {text}" \\
        --id-column review_id --schema examples/sentiment.schema.json

Running it again resumes (ids already in the output are skipped). The script then counts
the labels in the output's `parsed` field.

Runs against the built-in mock provider (no key, no network):
    python examples/review_sentiment.py [OUTPUT.jsonl]
With a real model: SLUICEGATE_MODEL=openai/gpt-4.1-mini (and OPENAI_API_KEY).
"""

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = os.environ.get("SLUICEGATE_MODEL", "mock/fast")
TEMPLATE = "Classify this review as positive, negative or mixed: {text}"


def run(output: Path) -> int:
    """``sluicegate run`` over the CSV into ``output``; its exit status."""
    command = [
        sys.executable, "-m", "sluicegate", "run", str(HERE / "reviews.csv"),
        "-o", str(output), "-m", MODEL, "--template", TEMPLATE,
        "--id-column", "review_id", "--schema", str(HERE / "sentiment.schema.json"),
        "--no-progress",
    ]  # fmt: skip
    return subprocess.run(command, check=False).returncode


def tally(output: Path) -> Counter[str]:
    """The labels in the output, with the lines that have none counted as errors."""
    counts: Counter[str] = Counter()
    for line in output.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        parsed = record.get("parsed")
        counts[parsed["sentiment"] if parsed else "error: " + record["error"]["type"]] += 1
    return counts


def main(output: Path | None = None) -> Counter[str]:
    if output is None:
        output = Path(tempfile.mkdtemp()) / "reviews.jsonl"
    status = run(output)
    counts = tally(output)
    print(f"exit status {status}; {sum(counts.values())} reviews in {output}:")
    for label, count in counts.most_common():
        print(f"  {label:<10} {count}")
    return counts


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
