"""Add a middleware stage at run time: here, one that counts tokens per tag.

A stage is any async callable ``(request, call_next) -> reply``; a plugin places it in the
chain by phase. Streamed replies are observed, never consumed.

    python examples/custom_middleware.py [asyncio|trio]
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence

import anyio

import sluicegate
from sluicegate import CallNext, MiddlewareSpec, Phase, Reply, Request, Response
from sluicegate.streaming import EventStream


class TokensByTag:
    """Counts output tokens per request tag."""

    def __init__(self) -> None:
        self.tokens: Counter[str] = Counter()

    def _count(self, request: Request, response: Response) -> None:
        for tag in request.metadata.tags or ("untagged",):
            self.tokens[tag] += response.usage.output_tokens

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        reply = await call_next(request)
        if isinstance(reply, EventStream):
            return reply.observe(on_done=lambda response: self._count(request, response))
        self._count(request, reply)
        return reply


class TokensByTagPlugin:
    name = "tokens-by-tag"

    def __init__(self) -> None:
        self.stage = TokensByTag()

    @sluicegate.hookimpl
    def sluicegate_middleware(self) -> Sequence[MiddlewareSpec]:
        return [MiddlewareSpec("tokens-by-tag", Phase.COST, lambda context: self.stage)]


async def main() -> Counter[str]:
    plugin = TokensByTagPlugin()
    async with sluicegate.Client(plugins=[plugin]) as client:
        print("chain:", " → ".join(client.stages))
        await client.chat("mock/fast", "Summarise the news.", tags=["news"])
        await client.chat("mock/fast", "Write a haiku.", tags=["poetry"])
        async with client.stream("mock/fast", "Another haiku.", tags=["poetry"]) as stream:
            await stream.final_response()
    print(dict(plugin.stage.tokens))
    return plugin.stage.tokens


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
