"""``sluicegate chat MODEL PROMPT``: one answer, streamed to the terminal as it arrives."""

from __future__ import annotations

import sys

import click

from sluicegate.cli.common import (
    backend_option,
    log_level_option,
    run,
    setup_logging,
    total_timeout_option,
    total_timeout_setting,
)


async def _chat(
    model: str,
    prompt: str,
    system: str | None,
    max_tokens: int | None,
    temperature: float | None,
    stream: bool,
    total_timeout: float = 600.0,
) -> None:
    from sluicegate import Client

    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    params = {
        k: v for k, v in (("max_tokens", max_tokens), ("temperature", temperature)) if v is not None
    }
    async with Client(total_timeout=total_timeout_setting(total_timeout)) as client:
        if stream:
            async with client.stream(model, messages, **params) as answer:
                async for chunk in answer.text_chunks():
                    sys.stdout.write(chunk)
                    sys.stdout.flush()
                response = answer.response
        else:
            response = await client.chat(model, messages, **params)
            sys.stdout.write(response.text)
    sys.stdout.write("\n")
    if response is not None:
        usage = response.usage
        click.echo(
            f"[{response.model} · {response.latency * 1000:.0f} ms · "
            f"{usage.input_tokens} in / {usage.output_tokens} out tokens · "
            f"finish: {response.finish_reason}]",
            err=True,
        )


@click.command("chat")
@click.argument("model")
@click.argument("prompt")
@click.option("--system", default=None, help="A system message.")
@click.option("--max-tokens", type=int, default=None)
@click.option("--temperature", type=float, default=None)
@click.option("--stream/--no-stream", default=True, show_default=True)
@total_timeout_option
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
    backend: str,
    log_level: str | None,
) -> None:
    """Ask MODEL one question and stream the answer."""
    setup_logging(log_level)
    run(backend, _chat, model, prompt, system, max_tokens, temperature, stream, total_timeout)
