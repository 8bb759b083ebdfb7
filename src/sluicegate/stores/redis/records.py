"""Idempotency records shared through the store: a caller-keyed request is sent by one
process, and its twins in every other process wait for its answer or replay it.

How: a twin first asks :data:`~sluicegate.stores.redis.scripts.CLAIM`, which in one
step answers with the recorded Response, or gives this process the claim (it sends the
request), or says another process holds it (its request is on the wire: the twin asks
again shortly, until the answer is recorded or the claim is given up). The answer is
recorded and the claim given up in one step (``RECORD_PUT``), so a twin never finds
neither while the first is still answering. A claim is kept in Redis a lease
(``lease_s``) at a time, renewed by its process until its request's deadline, so a killed
process blocks its keys for one lease at most, not for a whole deadline.

Records are JSON: the Response's fields that a replay gives back (not ``raw``, not the
headers), and the request's fingerprint in hex. Keys are an API key's (see
:mod:`.keys`): two organisations never share an answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sluicegate.types import ImagePart, Response, TextPart, ToolCall, Usage

if TYPE_CHECKING:
    from sluicegate.middleware.idempotency import IdempotencyRecord
    from sluicegate.providers.base import BoundProvider
    from sluicegate.stores.redis.connection import SharedStore

__all__ = ["Claim", "SharedRecords", "decode_record", "encode_record"]


def encode_record(record: IdempotencyRecord) -> str:
    response = record.response
    return json.dumps(
        {
            "f": record.fingerprint.hex(),
            "text": response.text,
            "model": response.model,
            "provider": response.provider,
            "content": [
                {"text": part.text} if isinstance(part, TextPart) else {"url": part.url}
                for part in response.content
            ],
            "tool_calls": [[c.id, c.name, c.arguments] for c in response.tool_calls],
            "finish_reason": response.finish_reason,
            "usage": [
                response.usage.input_tokens,
                response.usage.output_tokens,
                response.usage.cached_tokens,
                response.usage.cache_write_tokens,
                response.usage.reasoning_tokens,
            ],
            "request_id": response.request_id,
            "latency": response.latency,
            "attempts": response.attempts,
            "cost": response.cost,
        },
        separators=(",", ":"),
    )


def decode_record(text: str) -> IdempotencyRecord:
    from sluicegate.middleware.idempotency import IdempotencyRecord

    data = json.loads(text)
    response = Response(
        text=data["text"],
        model=data["model"],
        provider=data["provider"],
        content=tuple(
            TextPart(part["text"]) if "text" in part else ImagePart(part["url"])
            for part in data["content"]
        ),
        tool_calls=tuple(ToolCall(*call) for call in data["tool_calls"]),
        finish_reason=data["finish_reason"],
        usage=Usage(*data["usage"]),
        request_id=data["request_id"],
        latency=data["latency"],
        attempts=data["attempts"],
        cost=data["cost"],
    )
    return IdempotencyRecord(bytes.fromhex(data["f"]), response)


class Claim:
    """What :meth:`SharedRecords.claim` found."""

    RECORDED = 1
    MINE = 2
    BUSY = 3

    __slots__ = ("record", "state")

    def __init__(self, state: int, record: IdempotencyRecord | None = None) -> None:
        self.state = state
        self.record = record


class SharedRecords:
    """The idempotency stage's link to the store."""

    __slots__ = ("_providers", "_store")

    def __init__(self, store: SharedStore, providers: Mapping[str, BoundProvider]) -> None:
        self._store = store
        self._providers = providers

    def _keys(self, provider: str, key: str) -> list[str]:
        tag = self._store.tag_of(self._providers, provider)
        record = self._store.keys.record(tag, key)
        return [record, record + ":claim"]

    async def claim(self, provider: str, key: str, ttl_s: float) -> Claim:
        """Claim ``key`` for ``ttl_s`` (its request's deadline), kept in Redis a lease at
        a time while this process holds it (:meth:`SharedStore.hold_claim`)."""
        keys = self._keys(provider, key)
        store = self._store
        lease_s = min(ttl_s, store.config.lease_s)
        reply: Any = await store.run(
            "CLAIM",
            keys,
            [store.owner, max(round(lease_s * 1000), 1)],
            "idempotency claim",
        )
        state = int(reply[0])
        if state == Claim.RECORDED:
            return Claim(state, decode_record(reply[1]))
        if state == Claim.MINE:
            store.hold_claim(keys[1], ttl_s)
        return Claim(state)

    async def get(self, provider: str, key: str) -> IdempotencyRecord | None:
        text = await self._store.run(
            "RECORD_GET", self._keys(provider, key)[:1], [], "idempotency record"
        )
        return decode_record(text) if text else None

    async def put(
        self, provider: str, key: str, record: IdempotencyRecord | None, ttl_s: float
    ) -> None:
        """Record the answer (None: there is none, only give the claim up)."""
        text = encode_record(record) if record is not None else ""
        ttl_ms = round(ttl_s * 1000) if record is not None else 0
        keys = self._keys(provider, key)
        self._store.drop_claim(keys[1])
        await self._store.run(
            "RECORD_PUT",
            keys,
            [text, ttl_ms, self._store.owner],
            "idempotency record",
        )

    def give_up(self, provider: str, key: str) -> None:
        """Give the claim up without an answer (the request failed or was cancelled), in
        the background: a twin then sends the request itself."""
        claim = self._keys(provider, key)[1:]
        self._store.drop_claim(claim[0])
        self._store.defer("UNCLAIM", claim, [self._store.owner], "idempotency claim")
