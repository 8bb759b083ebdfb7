"""Stream an answer as it arrives, then read its usage from the final Response.

python examples/stream_chat.py [asyncio|trio]
"""

from __future__ import annotations

import sys

import anyio

import sluicegate


async def main() -> sluicegate.Response:
    async with sluicegate.Client() as client:
        async with client.stream("mock/fast", "Describe a river in one paragraph.") as stream:
            async for chunk in stream.text_chunks():
                print(chunk, end="", flush=True)
        response = stream.response
    assert response is not None
    print(f"\n[{response.usage.input_tokens} in, {response.usage.output_tokens} out]")
    return response


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
