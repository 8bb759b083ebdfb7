"""Ask several models the same question and keep every answer, failures included.

Runs against the built-in mock provider (no key, no network):
    python examples/fan_out.py            # asyncio
    python examples/fan_out.py trio       # trio
"""

from __future__ import annotations

import sys

import anyio

import sluicegate


async def main() -> list[sluicegate.FanOutResult]:
    async with sluicegate.Client() as client:
        results = await client.fan_out(
            "Which is larger, 9.11 or 9.9?",
            models=["mock/fast", "mock/smart", "nowhere/model"],
            max_tokens=30,
        )
    for result in results:
        outcome = result.text if result.ok else f"failed: {result.error}"
        print(f"{result.model:<14} {result.latency * 1000:6.0f} ms  {outcome}")
    return results


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
