"""What ``chat``, ``fanout`` and ``compare`` print of an answer: never the API key, even
when a server repeats it (split across stream deltas, too); tokens a server did not
report shown as unknown, not as 0; and the error of a stream cut part-way on a line of
its own, after the text that arrived."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import anyio.abc
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from bulk.processes import mock_server
from hostile_server import (
    HostileServer,
    RawRequest,
    behaviour,
    hostile_server,
    http_head,
    json_response,
    openai_answer,
)
from sluicegate.cli import exit_status, main
from sluicegate.cli.printing import StreamScrubber, tokens_text
from sluicegate.secrets import Secret, scrub
from sluicegate.types import Usage

KEY = "hostile-echo-key-0123456789abcdef"
"""Not shaped like any provider's key: only the client's own memory of it can blank it."""
Secret(KEY)  # remembered for scrub(), as the client does with OPENAI_API_KEY


def sse_answer(deltas: list[str], usage: dict[str, int] | None = None) -> bytes:
    """An OpenAI chat stream with these text deltas (and a usage chunk when given)."""
    chunks = [
        {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d}]}
        for d in [{"role": "assistant"}, *({"content": t} for t in deltas)]
    ]
    chunks.append(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    if usage is not None:
        chunks.append({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage})
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    data = body.encode()
    head = {"content-type": "text/event-stream", "content-length": str(len(data))}
    return http_head(200, head, "OK") + data


def _sent_key(request: RawRequest) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


@behaviour("echo-key")
async def _echo_key(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    """Answers with the key it was sent, split across two deltas when streamed."""
    key = _sent_key(request)
    text = f"Your key is {key}, keep it safe."
    if request.json.get("stream"):
        cut = len("Your key is ") + 7
        await stream.send(sse_answer([text[:cut], text[cut:]], {"prompt_tokens": 5}))
    else:
        await stream.send(json_response(200, openai_answer(text, request.model)))


@behaviour("no-usage")
async def _no_usage(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    """A server that counts no tokens: no usage chunk, or an empty usage object."""
    if request.json.get("stream"):
        await stream.send(sse_answer(["Hello", " there."]))
    else:
        await stream.send(json_response(200, openai_answer("Hello there.", request.model, {})))


@behaviour("markup")
async def _markup(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(200, openai_answer("[bold]x[/] and [/red] kept", "m")))


@behaviour("markup-error")
async def _markup_error(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(400, {"error": {"message": "bad [/x] value"}}))


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        yield running


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def invoke(server: HostileServer, backend: str, *argv: str) -> Result:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": KEY, "COLUMNS": "200"}
    return CliRunner().invoke(main, [*argv, "--backend", backend], env=env)


# -- 6: the key is never printed ------------------------------------------------------------


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_chat_never_prints_a_key_the_server_repeats(
    server: HostileServer, backend: str, stream: str
) -> None:
    result = invoke(server, backend, "chat", "openai/echo-key", "hi", stream)
    assert result.exit_code == exit_status.OK, result.output
    assert _sent_key(server.requests[-1]) == KEY  # it was sent, and repeated
    assert result.stdout == "Your key is ***, keep it safe.\n"
    assert KEY not in result.output and KEY[:12] not in result.output


@pytest.mark.parametrize("command", ["fanout", "compare"])
def test_fanout_and_compare_never_print_a_key_the_server_repeats(
    server: HostileServer, backend: str, command: str
) -> None:
    result = invoke(server, backend, command, "hi", "-m", "openai/echo-key", "-m", "openai/x")
    assert result.exit_code == exit_status.OK, result.output
    assert "Your key is ***" in result.output and KEY[:12] not in result.output


@given(
    words=st.lists(
        st.sampled_from(["a", "key:", KEY, f"({KEY})", "日本語", "\n", "sk-", "x" * 30]),
        max_size=12,
    ),
    seps=st.lists(st.sampled_from([" ", "\n", "", "\t", "。"]), min_size=12, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_a_streamed_key_is_blanked_however_the_deltas_split_it(
    words: list[str], seps: list[str], cuts: list[int]
) -> None:
    text = "".join(w + s for w, s in zip(words, seps, strict=False))
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    scrubber = StreamScrubber()
    out = [scrubber.feed(text[a:b]) for a, b in itertools.pairwise(bounds)]
    printed = "".join(out) + scrubber.flush()
    assert KEY not in printed and KEY[:8] not in printed
    # however the deltas split it, the stream prints what scrubbing the whole text gives:
    # nothing else changed, nothing lost ("sk-" + 30 x's is key-shaped, and blanked too)
    assert printed == scrub(text)


def test_text_without_spaces_streams_without_waiting() -> None:
    scrubber = StreamScrubber()
    assert scrubber.feed("日本語の") == "日本語の"
    assert scrubber.feed("Hello wor") == "Hello "
    assert scrubber.feed("ld") == ""
    assert scrubber.flush() == "world"
    long_run = "A" * 5000
    assert scrubber.feed(long_run) == "A" * (5000 - 512)  # bounded: let out in parts


def test_fanout_prints_brackets_in_answers_and_errors_as_they_are(
    server: HostileServer, backend: str
) -> None:
    argv = ["fanout", "a [/b] prompt", "-m", "openai/markup", "-m", "openai/markup-error"]
    result = invoke(server, backend, *argv)
    assert result.exit_code == exit_status.SOME_FAILED, result.output
    assert "[bold]x[/] and [/red] kept" in result.output and "bad [/x] value" in result.output
    assert "a [/b] prompt" in result.output


# -- 4: tokens a server did not report are unknown, not zero ----------------------------


def test_tokens_text_says_unknown_for_no_usage() -> None:
    assert tokens_text(Usage()) == "? in / ? out tokens"
    assert tokens_text(Usage(), short=True) == "?/?"
    assert tokens_text(Usage(3, 0)) == "3 in / 0 out tokens"
    assert tokens_text(Usage(3, 4), short=True) == "3/4"


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_chat_reports_unreported_tokens_as_unknown(
    server: HostileServer, backend: str, stream: str
) -> None:
    result = invoke(server, backend, "chat", "openai/no-usage", "hi", stream)
    assert result.exit_code == exit_status.OK, result.output
    assert result.stdout == "Hello there.\n"
    assert "? in / ? out tokens" in result.stderr and "0 in" not in result.stderr


@pytest.mark.parametrize("command", ["fanout", "compare"])
def test_fanout_and_compare_report_unreported_tokens_as_unknown(
    server: HostileServer, backend: str, command: str
) -> None:
    result = invoke(server, backend, command, "hi", "-m", "openai/no-usage")
    assert result.exit_code == exit_status.OK, result.output
    assert "?/?" in result.output and "0/0" not in result.output


# -- 3: a cut stream's error on its own line -----------------------------------------------


def test_a_cut_streams_error_starts_on_its_own_line(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mock_server("--fault", "cut_stream=1") as url:
        env = {"SLUICEGATE_MOCK_BASE_URL": f"{url}/v1"}
        result = CliRunner().invoke(
            main, ["chat", "mock/fast", "tell me a story", "--backend", backend], env=env
        )
    assert result.exit_code == exit_status.SOME_FAILED, result.output
    assert result.stdout.startswith("Mock answer to: tell me a story")  # kept
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1
    assert result.stderr.startswith("Error: StreamError: ")
    assert "\nError: StreamError: " in result.output  # a terminal shows both: own line
