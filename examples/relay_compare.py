"""Compare several vendors' models on one prompt through one OpenAI-compatible relay.

The relay, its key, four model aliases and a limit are in examples/relay.sluicegate.toml;
each answer comes back with its tokens, its cost (the relay's well-known model names are
priced as their makers' models) and its latency, printed as a table. One model failing
loses nobody else's answer.

With your relay:
    RELAY_BASE_URL=https://relay.example.com/v1 RELAY_API_KEY=... \\
        python examples/relay_compare.py
Without one (no key, no network): a mock server on 127.0.0.1 plays the relay:
    python examples/relay_compare.py            # asyncio
    python examples/relay_compare.py trio       # trio
"""

import os
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
from rich.console import Console
from rich.table import Table

import sluicegate

CONFIG = Path(__file__).resolve().parent / "relay.sluicegate.toml"
MODELS = ["gpt", "claude", "gemini", "deepseek"]  # aliases from the config file
PROMPT = "In one sentence: why do rivers meander?"


async def main(console: Console | None = None) -> list[sluicegate.FanOutResult]:
    console = console or Console()
    async with AsyncExitStack() as stack:
        if not os.environ.get("RELAY_BASE_URL"):
            from sluicegate.testing import serve_mock

            relay = await stack.enter_async_context(serve_mock())
            stand_in = {"RELAY_BASE_URL": relay.openai_base_url}
            if not os.environ.get("RELAY_API_KEY"):
                stand_in["RELAY_API_KEY"] = "sk-demo-not-a-real-key-0123456789"
            os.environ.update(stand_in)
            for name in stand_in:  # the stand-in's settings go when it does
                stack.callback(os.environ.pop, name, None)
        async with sluicegate.Client(config=CONFIG) as client:
            results = await client.fan_out(PROMPT, MODELS, max_tokens=60)
    table = Table(title=PROMPT)
    for column in ("model", "answer", "tokens in/out", "cost", "latency"):
        table.add_column(column)
    for result in results:
        response = result.response
        if response is None:
            table.add_row(result.model, f"[red]{result.error}", "", "", "")
            continue
        cost = "?" if response.cost is None else f"${response.cost:.6f}"
        usage = response.usage
        table.add_row(
            f"{result.model} ({response.model})",
            response.text,
            f"{usage.input_tokens}/{usage.output_tokens}",
            cost,
            f"{response.latency * 1000:.0f} ms",
        )
    console.print(table)
    return results


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
