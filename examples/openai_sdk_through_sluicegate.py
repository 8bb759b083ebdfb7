"""Keep your openai SDK code; send it through sluicegate's limits, retries and ledger.

Starts the mock server (loopback, some 429s and 5xx injected), then asks it ten
questions with ``openai.AsyncOpenAI``, changed only by ``http_client=`` and
``max_retries=0``, then one streamed. sluicegate retries the faults with one
Idempotency-Key per call and counts the tokens the SDK was told about.

python examples/openai_sdk_through_sluicegate.py [asyncio|trio]
"""

from __future__ import annotations

import sys

import anyio
import openai

import sluicegate
from sluicegate.testing import MockConfig, serve_mock
from sluicegate.testing.faults import FaultPlan


async def main() -> tuple[int, sluicegate.Totals]:
    faults = FaultPlan(rates={"rate_limit": 0.2, "server_error": 0.1}, seed=1)
    settings = {"retry": sluicegate.RetryPolicy(attempts=5, base=0.05, cap=0.2)}
    async with (
        serve_mock(MockConfig(faults=faults, retry_after_s=0)) as server,
        sluicegate.Client(stage_settings=settings) as client,
    ):
        sdk = openai.AsyncOpenAI(
            base_url=server.openai_base_url,
            api_key="sk-your-key",
            max_retries=0,  # sluicegate retries; see docs/sdk-transport.md
            http_client=sluicegate.http_client(client),
        )
        reported = 0
        for i in range(10):
            try:
                completion = await sdk.chat.completions.create(
                    model="fast", messages=[{"role": "user", "content": f"Question {i}?"}]
                )
            except openai.APIStatusError as error:  # the SDK's own typed errors
                print(f"{i}: gave up with HTTP {error.status_code}")
                continue
            assert completion.usage is not None
            reported += completion.usage.total_tokens
            print(f"{i}: {completion.choices[0].message.content}")
        # streamed: the text arrives as the server sends it; ask for the usage chunk
        # (stream_options) so that the SDK sees the tokens the ledger counts
        stream = await sdk.chat.completions.create(
            model="fast",
            messages=[{"role": "user", "content": "And one streamed?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        print("streamed: ", end="")
        async for chunk in stream:
            if chunk.choices:
                print(chunk.choices[0].delta.content or "", end="", flush=True)
            if chunk.usage is not None:
                reported += chunk.usage.total_tokens
        print()
        total = client.ledger.snapshot().total
    print(f"SDK reported {reported} tokens; sluicegate's ledger: {total.total_tokens}")
    return reported, total


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
