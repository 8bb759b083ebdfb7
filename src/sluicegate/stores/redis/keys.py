"""Names of the keys the shared store writes, and the digest that stands for an API key.

Every key of one API key's state starts ``<prefix>:{<digest>}:``. The braces are a Redis
Cluster hash tag: all of one key's limits, holds, circuits and records land in one hash
slot, so one script may touch any of them (a cluster refuses a script whose keys span
slots with CROSSSLOT). Different API keys have different digests, so their state never
collides, and the API key itself is never written: the digest is a keyed BLAKE2b of it,
which cannot be turned back into the key. A provider with no key (a local server, the
mock) is named by its provider name instead.

Budgets are not an API key's: they are named by the user (``Budget(50, name="nightly")``)
and shared by name, under ``<prefix>:{budgets}:<name>:``.
"""

from __future__ import annotations

import hashlib

from sluicegate.secrets import Secret

__all__ = ["KeySpace", "digest_of"]

_PERSON = b"sluicegate-v1"


def digest_of(credential: Secret | None, provider: str) -> str:
    """24 hex digits naming an API key (or, with no key, the provider) in key names."""
    material = credential.reveal() if credential is not None else f"provider:{provider}"
    return hashlib.blake2b(material.encode(), digest_size=12, person=_PERSON).hexdigest()


class KeySpace:
    """Builds key names under one prefix."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def tag(self, digest: str) -> str:
        """The start of every key of one API key: ``sg:{<digest>}``."""
        return f"{self.prefix}:{{{digest}}}"

    def rate(self, tag: str, label: str, kind: str, per_minute: int, burst: int) -> str:
        """A rate bucket; its limit is part of its name, so processes configured with
        different limits for one scope keep different buckets rather than reading one
        bucket's time in two different units."""
        return f"{tag}:rl:{label}:{kind}:{per_minute}/{burst}"

    def leases(self, tag: str, label: str, limit: int) -> str:
        """A concurrency limit's set of leases."""
        return f"{tag}:cc:{label}:{limit}"

    def hold(self, tag: str, model: str) -> str:
        """A model's server-requested hold (Retry-After, a storm's pause)."""
        return f"{tag}:hold:{model}"

    def settled(self, tag: str, reservation: str) -> str:
        """The marker that a reservation's correction was applied (once)."""
        return f"{tag}:rs:{reservation}"

    def circuit(self, tag: str, model: str) -> str:
        """A model endpoint's shared circuit."""
        return f"{tag}:cb:{model}"

    def record(self, tag: str, key: str) -> str:
        """An idempotency record (and its claim)."""
        return f"{tag}:idem:{key}"

    def budget(self, name: str) -> tuple[str, str, str]:
        """A named budget's three keys: its state (spent, reserved), its reservations'
        expiries and their amounts. Every budget shares one hash slot, so a request
        reserves in all of its budgets in one script."""
        head = f"{self.prefix}:{{budgets}}:{name}"
        return f"{head}:state", f"{head}:held", f"{head}:amounts"
