"""The synchronous SDK clients (``openai.OpenAI``, ``anthropic.Anthropic``) through
``sluicegate.sync_http_client``: the chain runs in a loop of its own (asyncio or trio),
shared by every thread that calls the SDK, and by both SDKs' HTTP clients."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import structlog
from anyio.from_thread import start_blocking_portal

import sluicegate
from sdk_clients import KEY, chain_client, check_keys, faulty
from sluicegate.sdk.sync_transport import ChainLoop
from sluicegate.testing import MockConfig, serve_mock

BACKENDS = ["asyncio", "trio"]
THREADS, CALLS_PER_THREAD = 4, 6


@pytest.fixture
def server() -> Iterator[Any]:
    """The mock server, in a loop of its own (30% faults; a stream's before any text)."""
    config = faulty(
        seed=9,
        rates={"rate_limit": 0.15, "server_error": 0.05, "cut_stream": 0.05, "stream_error": 0.05},
        fault_after_pieces=0,
    )
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_mock(config)) as running,
    ):
        yield running


def openai_call(sdk: openai.OpenAI, i: int) -> tuple[int, int]:
    """Even calls plain, odd ones streamed: the usage the SDK reported."""
    messages: Any = [{"role": "user", "content": f"question {i}"}]
    if i % 2 == 0:
        completion = sdk.chat.completions.create(model="fast", messages=messages)
        assert completion.usage is not None
        return completion.usage.prompt_tokens, completion.usage.completion_tokens
    usage = (0, 0)
    stream = sdk.chat.completions.create(
        model="fast", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    return usage


def anthropic_call(sdk: anthropic.Anthropic, i: int) -> tuple[int, int]:
    messages: Any = [{"role": "user", "content": f"question {i}"}]
    if i % 2 == 0:
        message = sdk.messages.create(model="fast", max_tokens=60, messages=messages)
    else:
        with sdk.messages.stream(model="fast", max_tokens=60, messages=messages) as stream:
            message = stream.get_final_message()
    return message.usage.input_tokens, message.usage.output_tokens


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sdk_name", ["openai", "anthropic"])
def test_sync_sdk_calls_from_threads_share_one_chain(
    server: Any, backend: str, sdk_name: str
) -> None:
    client = chain_client()
    if sdk_name == "openai":
        http = sluicegate.sync_http_client(client, backend=backend)
        sdk: Any = openai.OpenAI(
            base_url=server.openai_base_url, api_key=KEY, max_retries=0, http_client=http
        )
        call: Any = openai_call
        errors: type[Exception] = openai.APIError
    else:
        http = sluicegate.sync_http_client(client, library="httpx2", backend=backend)
        sdk = anthropic.Anthropic(
            base_url=server.anthropic_base_url, api_key=KEY, max_retries=0, http_client=http
        )
        call, errors = anthropic_call, anthropic.APIError
    usage = [0, 0]
    outcomes = {"answered": 0, "errors": 0}
    lock = threading.Lock()

    def worker(first: int) -> None:
        for i in range(first, first + CALLS_PER_THREAD):
            try:
                used_in, used_out = call(sdk, i)
            except errors:
                with lock:
                    outcomes["errors"] += 1
            else:
                with lock:
                    outcomes["answered"] += 1
                    usage[0] += used_in
                    usage[1] += used_out

    threads = [
        threading.Thread(target=worker, args=(t * CALLS_PER_THREAD,)) for t in range(THREADS)
    ]
    with http:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    stats = server.stats.snapshot()
    calls = THREADS * CALLS_PER_THREAD
    print(sdk_name, backend, stats["requests"], stats["by_fault"], outcomes)
    assert outcomes["answered"] + outcomes["errors"] == calls and outcomes["answered"] > 0
    assert stats["by_fault"]  # faults were injected, and retried
    check_keys(stats, calls)
    total = client.ledger.snapshot().total
    assert (total.input_tokens, total.output_tokens) == tuple(usage)
    assert (stats["input_tokens"], stats["output_tokens"]) == tuple(usage)
    assert total.cut_streams == 0
    assert id(client) not in ChainLoop._loops  # closed with its HTTP client


@pytest.mark.parametrize("backend", BACKENDS)
def test_both_sdks_share_one_loop_and_ledger_and_the_last_close_ends_it(backend: str) -> None:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_mock(MockConfig())) as server,
    ):
        client = sluicegate.Client()
        first = sluicegate.sync_http_client(client, backend=backend)
        second = sluicegate.sync_http_client(client, library="httpx2", backend=backend)
        loop = ChainLoop._loops[id(client)]
        assert loop.users == 2
        oai = openai.OpenAI(
            base_url=server.openai_base_url, api_key=KEY, max_retries=0, http_client=first
        )
        claude = anthropic.Anthropic(
            base_url=server.anthropic_base_url, api_key=KEY, max_retries=0, http_client=second
        )
        oai.chat.completions.create(model="fast", messages=[{"role": "user", "content": "a"}])
        claude.messages.create(
            model="fast", max_tokens=20, messages=[{"role": "user", "content": "b"}]
        )
        first.close()
        assert ChainLoop._loops[id(client)] is loop  # the other one still uses it
        claude.messages.create(
            model="fast", max_tokens=20, messages=[{"role": "user", "content": "c"}]
        )
        with pytest.raises(sluicegate.ConfigError, match="already runs on"):
            sluicegate.sync_http_client(
                client, backend="trio" if backend == "asyncio" else "asyncio"
            )
        second.close()
        assert id(client) not in ChainLoop._loops
        by_model = client.ledger.snapshot().by_model
    assert by_model["sdk-openai/fast"].requests == 1
    assert by_model["sdk-anthropic/fast"].requests == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_closed_sync_client_refuses_to_send(backend: str) -> None:
    http = sluicegate.sync_http_client(backend=backend)
    transport = http._transport
    http.close()
    assert not ChainLoop._loops
    request = httpx.Request("GET", "http://127.0.0.1:9/v1/models")
    with pytest.raises(sluicegate.ConfigError, match="closed"):
        transport.handle_request(request)


def test_a_sync_client_never_closed_lets_the_process_exit_and_closes_its_client(
    tmp_path: Path,
) -> None:
    # the loop runs in a daemon thread; at exit an atexit hook closes the client in it
    marker = tmp_path / "closed"
    code = (
        "import sys, sluicegate\n"
        "class Noting(sluicegate.Client):\n"
        "    async def aclose(self):\n"
        "        await super().aclose()\n"
        "        open(sys.argv[1], 'w').write('closed')\n"
        "http = sluicegate.sync_http_client(Noting(), backend=sys.argv[2])\n"
        "print('made', flush=True)\n"
    )
    for backend in BACKENDS:
        marker.unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-c", code, str(marker), backend],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout == "made\n"
        assert marker.read_text() == "closed"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"library": "requests"}, "'requests'"),
        ({"backend": "curio"}, "'curio'"),
        ({"transport": object()}, "no transport="),
    ],
)
def test_bad_sync_options_are_config_errors_that_name_them(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(sluicegate.ConfigError, match=named):
        sluicegate.sync_http_client(**options)
    assert not ChainLoop._loops  # nothing was started for a refused call


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_key_is_in_no_log_line_or_error_of_the_sync_client(backend: str) -> None:
    config = faulty(seed=2, rates={"server_error": 0.4, "stream_error": 0.3, "cut_stream": 0.3})
    seen: list[str] = []
    with (
        structlog.testing.capture_logs() as logs,
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_mock(config)) as server,
    ):
        with sluicegate.sync_http_client(chain_client(), backend=backend) as http:
            sdk = openai.OpenAI(
                base_url=server.openai_base_url, api_key=KEY, max_retries=0, http_client=http
            )
            for i in range(6):
                try:
                    openai_call(sdk, i)
                except openai.APIError as error:
                    seen += [str(error), repr(error), repr(error.__cause__)]
            seen.append(repr(http._transport))
    seen += [repr(line) for line in logs]
    assert logs and len(seen) > 3
    assert not [text for text in seen if KEY in text]
