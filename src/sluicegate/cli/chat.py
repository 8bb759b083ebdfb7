"""``sluicegate chat MODEL PROMPT``: one answer, streamed to the terminal as it arrives."""

from __future__ import annotations

import sys
from typing import Any

import click

from sluicegate.cli import exit_status
from sluicegate.cli.common import (
    backend_option,
    log_level_option,
    run,
    setup_logging,
    store_option,
    total_timeout_option,
    total_timeout_setting,
)
from sluicegate.cli.printing import StreamScrubber, scrub_answer, tokens_text


async def _chat(
    model: str,
    prompt: str,
    system: str | None,
    max_tokens: int | None,
    temperature: float | None,
    stream: bool,
    total_timeout: float = 600.0,
    store: str | None = None,
) -> None:
    from sluicegate import Client

    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    params = {
        k: v for k, v in (("max_tokens", max_tokens), ("temperature", temperature)) if v is not None
    }
    async with Client(total_timeout=total_timeout_setting(total_timeout), store=store) as client:
        if stream:
            response = await _stream(client, model, messages, params)
        else:
            response = await client.chat(model, messages, **params)
            sys.stdout.write(scrub_answer(response.text))
    sys.stdout.write("\n")
    if response is not None:
        click.echo(
            f"[{response.model} · {response.latency * 1000:.0f} ms · "
            f"{tokens_text(response.usage)} · finish: {response.finish_reason}]",
            err=True,
        )


async def _stream(
    client: Any, model: str, messages: list[dict[str, str]], params: dict[str, Any]
) -> Any:
    """Print the answer as it streams in, keys scrubbed even when split across deltas.
    If the stream breaks off, what arrived stays on stdout and the line is ended there,
    so the error (on stderr) starts on a line of its own."""
    scrubber = StreamScrubber()
    printed = False
    try:
        async with client.stream(model, messages, **params) as answer:
            async for chunk in answer.text_chunks():
                text = scrubber.feed(chunk)
                if text:
                    sys.stdout.write(text)
                    sys.stdout.flush()
                    printed = True
            response = answer.response
    except BaseException:
        rest = scrubber.flush()
        if printed or rest:
            sys.stdout.write(rest + "\n")
            sys.stdout.flush()
        raise
    sys.stdout.write(scrubber.flush())
    return response


@click.command("chat", epilog=exit_status.HELP_TEXT)
@click.argument("model")
@click.argument("prompt")
@click.option("--system", default=None, help="A system message.")
@click.option("--max-tokens", type=int, default=None)
@click.option("--temperature", type=float, default=None)
@click.option("--stream/--no-stream", default=True, show_default=True)
@total_timeout_option
@store_option
@backend_option
@log_level_option
def command(
    model: str,
    prompt: str,
    system: str | None,
    max_tokens: int | None,
    temperature: float | None,
    stream: bool,
    total_timeout: float,
    store: str | None,
    backend: str,
    log_level: str | None,
) -> None:
    """Ask MODEL one question and stream the answer."""
    setup_logging(log_level)
    run(
        backend, _chat, model, prompt, system, max_tokens, temperature, stream, total_timeout, store
    )
