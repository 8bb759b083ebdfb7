"""The mock server honours ``Idempotency-Key`` on plain (non-streamed) completions.

A request whose key already got a complete answer is answered with that answer again,
byte for byte, at once and without charging (no tokens counted: ``replayed`` in the
stats, not ``succeeded``). A request whose key is being answered right now waits for
that answer and then gets it replayed, so two copies of one request racing each other
(a client that timed out and retried, a resumed run that sends again what a killed run
had in flight) are charged once. If the first one fails or its client goes away, the
next one in line is answered afresh. A key reused with a different body is refused with
a 400, as Stripe does, since it can only be a client bug.

Memory is bounded: only the answer's body bytes and a 16-byte digest of the request
body are kept, for the ``MockConfig.idempotency_records`` most recent keys (10,000 by
default, a few MB); an older key is forgotten and would be charged again.

Streamed requests are not recorded: they are charged per request as before, and the key
is only counted.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Final

import anyio

__all__ = ["MISMATCH", "Claim", "IdempotencyRecords", "body_digest"]


class _Mismatch:
    def __repr__(self) -> str:
        return "MISMATCH"


MISMATCH: Final = _Mismatch()
"""What :meth:`IdempotencyRecords.claim` returns for a key reused with another body."""


def body_digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


class Claim:
    """The right to answer a key, held by the first request of it in flight. Set
    ``answer`` to the body of a complete answer before releasing to record it."""

    __slots__ = ("answer", "digest", "done")

    def __init__(self, digest: bytes) -> None:
        self.digest = digest
        self.answer: bytes | None = None
        self.done = anyio.Event()


class IdempotencyRecords:
    """Recorded answers by key (least recently used first out) and keys in flight."""

    __slots__ = ("_answers", "_capacity", "_claims")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self._answers: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
        self._claims: dict[str, Claim] = {}

    def __len__(self) -> int:
        return len(self._answers)

    async def claim(self, key: str, digest: bytes) -> bytes | Claim | _Mismatch:
        """The recorded answer; or, once no twin is in flight, a :class:`Claim` the
        caller must :meth:`release`; or :data:`MISMATCH`."""
        while True:
            recorded = self._answers.get(key)
            if recorded is not None:
                if recorded[0] != digest:
                    return MISMATCH
                self._answers.move_to_end(key)
                return recorded[1]
            current = self._claims.get(key)
            if current is None:
                claim = self._claims[key] = Claim(digest)
                return claim
            if current.digest != digest:
                return MISMATCH
            await current.done.wait()

    def release(self, key: str, claim: Claim) -> None:
        """End a claim: record its answer if it has one, and wake the twins waiting."""
        if self._claims.get(key) is claim:
            del self._claims[key]
        if claim.answer is not None:
            self._answers[key] = (claim.digest, claim.answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self._capacity:
                self._answers.popitem(last=False)
        claim.done.set()

    def clear(self) -> None:
        self._answers.clear()
