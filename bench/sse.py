"""How fast sluicegate's SSE decoder reads a stream, beside httpx-sse's and the openai
SDK's decoders on the same bytes, in one run.

The stream is 10 MB of OpenAI ``chat.completion.chunk`` events as the API sends them
(id, created, model, system_fingerprint, one content delta each, a word or two with now
and then a non-ASCII one; then the finish, the usage chunk and ``[DONE]``), cut into
pieces of 1 KB, 4 KB and 16 KB before the clock starts, as a socket hands them over.
An Anthropic Messages stream (``event:`` and ``data:`` lines per event) is timed too,
for information.

Each decoder runs as its users get it, from bytes to event objects:

- sluicegate: ``SSEDecoder(MAX_EVENT_BYTES).feed(piece)`` per piece, as the client's
  stream reader calls it (with its bound on a line's and an event's size);
- httpx-sse 0.4: the pipeline under ``EventSource.iter_sse``: an incremental UTF-8
  decode (what ``httpx.Response.iter_text`` does), its ``SSELineDecoder`` and its
  ``SSEDecoder.decode`` per line; httpx's own per-chunk overhead is left out, which is
  in the peer's favour;
- openai SDK: ``openai._streaming.SSEDecoder().iter_bytes(pieces)``.

Every decoder must produce the same events (count, and every event's data compared) or
the run fails. Figures are MB/s of process CPU time (time.process_time, so other load on
the machine matters less than on wall time), the median of ``--repeats`` rounds; a round
runs each decoder once in turn, and each ratio is the median of the rounds' own ratios
(paired, so a change of load between rounds does not fall on one decoder only). Issue
14's target, printed PASS/FAIL: sluicegate >= 2x httpx-sse at 1 KB and at 16 KB on the
OpenAI stream.

Run: ``python bench/sse.py`` (about a minute; needs httpx-sse and openai installed:
``.venv/bin/pip install httpx-sse``).
"""

from __future__ import annotations

import argparse
import codecs
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator

from sluicegate.sse import MAX_EVENT_BYTES, SSEDecoder

STREAM_BYTES = 10 * 2**20
PIECE_SIZES = (1024, 4096, 16384)
TARGET_RATIO = 2.0
TARGET_SIZES = (1024, 16384)
WORDS = (
    "The",
    " answer",
    " is",
    " that",
    " the",
    " river",
    " flows",
    " north",
    ",",
    " café",
    " naïve",
    " 東京",
    " and",
    " then",
    " 42",
    " ℃",
    ".",
    "\n\n",
    " résumé",
    " über",
)


def data_line(body: object, event: str | None = None) -> bytes:
    """One SSE event: compact JSON in a ``data:`` line, after an ``event:`` line if named."""
    head = f"event: {event}\n".encode() if event else b""
    return (
        head
        + b"data: "
        + json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        + b"\n\n"
    )


def openai_stream(size: int) -> bytes:
    """OpenAI chat.completion.chunk events up to ``size`` bytes, then finish, usage and
    [DONE], as the API sends them (compact JSON, one event per delta)."""
    events: list[bytes] = []
    total = 0
    n = 0
    while total < size:
        chunk = {
            "id": "chatcmpl-BXr3kQ9wq1ZfTQm2aP7GiqS8hJvXo",
            "object": "chat.completion.chunk",
            "created": 1764700000 + n // 50,
            "model": "gpt-4.1-2025-04-14",
            "service_tier": "default",
            "system_fingerprint": "fp_b3f1157249",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": WORDS[n % len(WORDS)]},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
            "usage": None,
        }
        event = data_line(chunk)
        events.append(event)
        total += len(event)
        n += 1
    finish = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    usage = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 120, "completion_tokens": n},
    }
    events += [data_line(finish), data_line(usage)]
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


def anthropic_stream(size: int) -> bytes:
    """Anthropic Messages stream events (an ``event:`` line and a ``data:`` line each)."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {"input_tokens": 120, "output_tokens": 1},
        },
    }
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    head = data_line(start, "message_start") + data_line(block, "content_block_start")
    events = [head]
    total = len(head)
    n = 0
    while total < size:
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": WORDS[n % len(WORDS)]},
        }
        event = data_line(delta, "content_block_delta")
        events.append(event)
        total += len(event)
        n += 1
    stop = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": n},
    }
    events += [
        data_line({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        data_line(stop, "message_delta"),
        data_line({"type": "message_stop"}, "message_stop"),
    ]
    return b"".join(events)


def cut(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


# -- the decoders, bytes in, (event, data) pairs out -----------------------------------------


def sluicegate_events(pieces: list[bytes]) -> list[tuple[str, str]]:
    decoder = SSEDecoder(MAX_EVENT_BYTES)
    out: list[tuple[str, str]] = []
    for piece in pieces:
        for event in decoder.feed(piece):
            out.append((event.event, event.data))
    decoder.close()
    return out


def httpx_sse_events(pieces: list[bytes]) -> list[tuple[str, str]]:
    from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
    from httpx_sse._decoders import SSELineDecoder

    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # httpx's TextDecoder
    lines = SSELineDecoder()
    decoder = HttpxSSEDecoder()
    out: list[tuple[str, str]] = []

    def texts() -> Iterator[str]:
        for piece in pieces:
            text = text_decoder.decode(piece)
            if text:
                yield text
        tail = text_decoder.decode(b"", True)
        if tail:
            yield tail

    def all_lines() -> Iterator[str]:  # httpx_sse._api._iter_sse_lines
        for text in texts():
            yield from lines.decode(text)
        yield from lines.flush()

    for line in all_lines():  # EventSource.iter_sse
        line = line.rstrip("\n")
        sse = decoder.decode(line)
        if sse is not None:
            out.append((sse.event, sse.data))
    return out


def openai_events(pieces: list[bytes]) -> list[tuple[str, str]]:
    from openai._streaming import SSEDecoder as OpenAISSEDecoder

    return [
        (sse.event or "message", sse.data) for sse in OpenAISSEDecoder().iter_bytes(iter(pieces))
    ]


DECODERS: dict[str, Callable[[list[bytes]], list[tuple[str, str]]]] = {
    "sluicegate": sluicegate_events,
    "httpx-sse": httpx_sse_events,
    "openai SDK": openai_events,
}


def sluicegate_count(pieces: list[bytes]) -> int:
    decoder = SSEDecoder(MAX_EVENT_BYTES)
    n = 0
    for piece in pieces:
        n += len(decoder.feed(piece))
    decoder.close()
    return n


def httpx_sse_count(pieces: list[bytes]) -> int:
    from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
    from httpx_sse._decoders import SSELineDecoder

    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = SSELineDecoder()
    decoder = HttpxSSEDecoder()
    n = 0
    for piece in pieces:
        text = text_decoder.decode(piece)
        if text:
            for line in lines.decode(text):
                if decoder.decode(line.rstrip("\n")) is not None:
                    n += 1
    for line in lines.flush():
        if decoder.decode(line.rstrip("\n")) is not None:
            n += 1
    return n


def openai_count(pieces: list[bytes]) -> int:
    from openai._streaming import SSEDecoder as OpenAISSEDecoder

    n = 0
    for _ in OpenAISSEDecoder().iter_bytes(iter(pieces)):
        n += 1
    return n


TIMED: dict[str, Callable[[list[bytes]], int]] = {
    "sluicegate": sluicegate_count,
    "httpx-sse": httpx_sse_count,
    "openai SDK": openai_count,
}
"""What is timed: each decoder with a consumer that only counts the events, so the
figures are the decoders' own cost (the lists above, compared first, prove the events)."""


def normalised(events: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """httpx-sse reports an event without an ``event`` field as "" and the others as
    "message"; the spec's name is "message"."""
    return [(name or "message", data) for name, data in events]


def cpu_s(decode: Callable[[list[bytes]], object], pieces: list[bytes]) -> float:
    gc.collect()
    started = time.process_time()
    decode(pieces)
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per median [7]")
    parser.add_argument(
        "--mb", type=float, default=STREAM_BYTES / 2**20, help="stream size, MB [10]"
    )
    args = parser.parse_args()
    size = int(args.mb * 2**20)
    targets: list[tuple[int, float]] = []  # (piece size, sluicegate / httpx-sse)
    print(f"Python {sys.version.split()[0]}; medians of {args.repeats} runs, MB/s of CPU time\n")
    for stream_name, stream in (
        ("OpenAI chunks", openai_stream(size)),
        ("Anthropic events", anthropic_stream(size)),
    ):
        mb = len(stream) / 2**20
        print(f"## {stream_name}: {mb:.1f} MB\n")
        print("| piece | sluicegate MB/s | httpx-sse MB/s | openai MB/s | x httpx-sse | x openai |")
        print("|---|---|---|---|---|---|")
        for piece_size in PIECE_SIZES:
            pieces = cut(stream, piece_size)
            reference = normalised(sluicegate_events(pieces))
            for name, decode in DECODERS.items():
                if normalised(decode(pieces)) != reference:
                    print(
                        f"FAIL: {name} decoded {stream_name} in {piece_size} B pieces differently"
                    )
                    return 1
            for name in DECODERS:
                if TIMED[name](pieces) != len(reference):
                    print(f"FAIL: {name}'s counting run found another number of events")
                    return 1
            # Rounds of one run of each decoder in turn, so a change in the machine's load
            # falls on all three alike; each ratio is the median of the rounds' own ratios.
            times: dict[str, list[float]] = {name: [] for name in DECODERS}
            for _ in range(args.repeats):
                for name in DECODERS:
                    times[name].append(cpu_s(TIMED[name], pieces))
            speeds = {name: mb / statistics.median(times[name]) for name in DECODERS}

            def paired(peer: str, times: dict[str, list[float]] = times) -> float:
                ours, theirs = times["sluicegate"], times[peer]
                return statistics.median(t / o for o, t in zip(ours, theirs, strict=True))

            ours = speeds["sluicegate"]
            print(
                f"| {piece_size // 1024} KB | {ours:,.0f} | {speeds['httpx-sse']:,.0f} | "
                f"{speeds['openai SDK']:,.0f} | {paired('httpx-sse'):.2f}x | "
                f"{paired('openai SDK'):.2f}x |"
            )
            if stream_name.startswith("OpenAI") and piece_size in TARGET_SIZES:
                targets.append((piece_size, paired("httpx-sse")))
        print(f"\n{len(reference):,} events each, identical across the three decoders\n")
    for piece_size, ratio in targets:
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        print(
            f"{verdict}: OpenAI stream in {piece_size // 1024} KB pieces, sluicegate "
            f"{ratio:.2f}x httpx-sse (target >= {TARGET_RATIO:.0f}x)"
        )
    return 0 if all(ratio >= TARGET_RATIO for _, ratio in targets) else 2


if __name__ == "__main__":
    sys.exit(main())
