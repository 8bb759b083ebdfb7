"""Must-show (templates, item 5): a 10,000-row CSV through ``sluicegate run --template``
against the mock server in its own process, killed once with SIGKILL mid-run and
resumed, ends with exactly one result line per good row id, each bad row reported by the
line it starts on, and each id's request charged once by the server (its idempotency key
is derived from the rendered request, so it is the same in both processes).

Every seventh review spans several lines (a quoted cell with newlines, commas and
quotes), so a row's line is not its index: the numbers checked are the ones an editor
shows. The killed run is on asyncio and the resume on trio: one kill, both backends, and
the keys shown not to depend on the event loop. About 10 s on the project machine.
"""

from __future__ import annotations

import csv
import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

from bulk.processes import WAIT_S, complete_lines, mock_server, server_stats, start_run, wait_until
from sluicegate.bulk.runner import line_key
from sluicegate.cli import exit_status
from sluicegate.types import Message, Params, Request

ROWS = 10_000
TEMPLATE = "Classify this {product} review as positive, negative or mixed:\n{text}"
SYSTEM = "Answer with one word."


def write_reviews(path: Path) -> tuple[dict[str, tuple[int, str]], list[tuple[int, str | None]]]:
    """The CSV; the good rows (id: its line and rendered prompt) and the bad rows (line,
    id) in line order: five empty ids and five duplicates, spread through the file."""
    rng = random.Random("csv-kill")
    bad_at = set(rng.sample(range(50, ROWS), 10))
    empty_at = set(sorted(bad_at)[::2])
    good: dict[str, tuple[int, str]] = {}
    bad: list[tuple[int, str | None]] = []
    line = 2  # the header is line 1
    last_good = ""
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["review_id", "product", "text", "stars"])
        for i in range(ROWS):
            product = ("kettle", "lamp", "pan", "mug")[i % 4]
            text = f"Review {i}: it works."
            if i % 7 == 0:
                text = f'Review {i}, in "two" parts:\nfirst, it works;\nthen {{it}} stops.'
            if i in empty_at:
                row_id = ""
                bad.append((line, None))
            elif i in bad_at:
                row_id = last_good  # an earlier row's id
                bad.append((line, row_id))
            else:
                row_id = last_good = f"rv-{i:05d}"
                good[row_id] = (line, TEMPLATE.format(product=product, text=text))
            writer.writerow([row_id, product, text, str(i % 5 + 1)])
            line += 1 + text.count("\n")
    return good, bad


def expected_key(output: Path, row_id: str, prompt: str) -> str:
    """The key the run derives for a row: from the request its rendered record makes."""
    request = Request(
        model="mock/fast",
        messages=(Message(role="system", content=SYSTEM), Message(role="user", content=prompt)),
        params=Params.from_kwargs({}),
    )
    return line_key(str(output.resolve()), row_id, request)


def test_a_csv_run_killed_once_and_resumed_writes_each_row_id_once(tmp_path: Path) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "out.jsonl"
    good, bad = write_reviews(source)
    assert len(good) == ROWS - 10 and len(bad) == 10
    options = (
        source, "-o", out, "-m", "mock/fast", "--template", TEMPLATE, "--system", SYSTEM,
        "--id-column", "review_id", "-c", "64",
    )  # fmt: skip
    started = time.monotonic()
    with mock_server("--latency", "0.002") as url:
        target = random.Random("csv-kill-at").randint(2_000, 5_000)
        run = start_run(url, *options, "--backend", "asyncio")
        wait_until(
            lambda: complete_lines(out) >= target or run.poll() is not None,
            "the run to write more lines",
        )
        time.sleep(random.Random("csv-kill-when").random() * 0.01)
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=WAIT_S)
        assert run.returncode == -signal.SIGKILL, "the run finished before it was killed"
        killed_at = complete_lines(out)
        final = start_run(url, *options, "--backend", "trio")
        stdout, stderr = final.communicate(timeout=WAIT_S)
        assert final.returncode == exit_status.SOME_FAILED, stdout + stderr  # bad rows
        stats = server_stats(url)
    elapsed = time.monotonic() - started

    assert 0 < killed_at < len(good)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    counts = Counter(r["id"] for r in records)
    assert set(counts) == set(good) and set(counts.values()) == {1}
    assert all("response" in r for r in records)
    assert {r["id"]: r["line"] for r in records} == {i: line for i, (line, _) in good.items()}
    assert f"({killed_at:,} already there)" in stdout

    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [(e["line"], e["id"]) for e in errors] == bad
    assert all(
        e["error"].startswith("empty id") if e["id"] is None else "duplicate id" in e["error"]
        for e in errors
    )
    assert f"{len(bad)} bad input lines" in stdout

    per_key = stats["idempotency"]
    assert set(per_key) == {expected_key(out, i, prompt) for i, (_, prompt) in good.items()}
    assert {k: v["succeeded"] for k, v in per_key.items()} == dict.fromkeys(per_key, 1)
    assert stats["succeeded"] == len(good)
    resent = sum(1 for v in per_key.values() if v["received"] > 1)
    print(
        f"\n{ROWS:,} rows ({len(good):,} good, {len(bad)} bad); killed at {killed_at:,} lines "
        f"(asyncio), resumed on trio to {len(records):,} lines; {resent} ids re-sent, "
        f"{stats['replayed']} answered from the server's record; {elapsed:.1f} s"
    )
