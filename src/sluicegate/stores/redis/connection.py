"""A client's live connection to its shared store: :class:`SharedStore`.

One per open :class:`~sluicegate.Client`, entered in its ``__aenter__`` and left in its
``aclose``, in the same task (coredis keeps its connection pool in a task group). It owns:

- the coredis client and the registered scripts (:mod:`.scripts`), called through
  :meth:`SharedStore.run`, which turns every way Redis can fail to answer (refused,
  reset, timed out, an error reply) into :class:`StoreUnavailableError` naming the store;
- a short memory of the store being away: after a failure, calls fail at once for
  ``_AWAY_S`` instead of each waiting for its own connect timeout, which is what keeps a
  run from hanging on a dead store (and lets a local share take over at once);
- a background task that sends what need not be waited for: corrections of token
  charges and releases of concurrency slots, in the order they were made (a request
  does not wait for its own bookkeeping);
- the process's concurrency leases, renewed every third of ``lease_s`` while they are
  held, so a process killed with ``kill -9`` holds its slots for at most ``lease_s``.
"""

from __future__ import annotations

import itertools
import math
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack, suppress
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from sluicegate.errors import ConfigError
from sluicegate.logs import get_logger
from sluicegate.stores.errors import StoreUnavailableError
from sluicegate.stores.redis import scripts
from sluicegate.stores.redis.config import RedisStore
from sluicegate.stores.redis.keys import KeySpace, digest_of

if TYPE_CHECKING:
    from sluicegate.providers.base import BoundProvider

__all__ = ["SharedStore"]

_AWAY_S = 0.5
"""After a failed call, how long further calls fail without trying."""

_DEFERRED_BATCH = 256
"""The most background calls (corrections, releases) in flight at once."""

_Deferred = tuple[str, Sequence[str], Sequence[str | int | float], str]


class SharedStore:
    """The open connection; see the module docstring. Built by the client from its
    :class:`RedisStore` setting."""

    def __init__(self, config: RedisStore, logger: Any = None) -> None:
        self.config = config
        self.keys = KeySpace(config.prefix)
        self.lease_us = round(config.lease_s * 1_000_000)
        self._log = logger if logger is not None else get_logger()
        self._redis: Any = None
        self._scripts: dict[str, Any] = {}
        self._stack: AsyncExitStack | None = None
        self._group: TaskGroup | None = None
        self._send: MemoryObjectSendStream[_Deferred] | None = None
        self._drained: anyio.Event | None = None
        """Set when the background sender has sent everything and its queue closed."""
        self._away_until = -math.inf
        self._warned = False
        self._owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._lease_numbers = itertools.count(1)
        self.leases: dict[str, set[str]] = {}
        """Live concurrency leases of this process, by lease-set key."""
        self.claims: dict[str, float] = {}
        """Idempotency claims this process holds, by claim key: until when (anyio's
        clock) each may be kept, its request's deadline. Renewed a lease at a time."""
        self._listeners: dict[str, Callable[[str], None]] = {}
        self._tags: dict[tuple[str, object], str] = {}
        self._unsent = 0
        """Deferred calls queued or in flight (:meth:`flush` waits for none)."""
        self._flushed: anyio.Event | None = None
        """Set when ``_unsent`` falls to 0, if :meth:`flush` waits."""

    @property
    def owner(self) -> str:
        """This connection's id: unique across processes (it names what it publishes)."""
        return self._owner

    def __repr__(self) -> str:
        state = "open" if self._redis is not None else "closed"
        return f"<SharedStore {self.config.display} {state}>"

    @property
    def name(self) -> str:
        return self.config.display

    # -- lifetime -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect lazily (the first call connects; a store that is away at start is
        answered like one that went away later) and start the background tasks."""
        try:
            import coredis
        except ImportError:
            raise ConfigError(
                f"store {self.name}: the Redis store needs coredis: pip install 'sluicegate[redis]'"
            ) from None

        timeout = self.config.timeout_s
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            client = coredis.Redis.from_url(
                self.config.url,
                decode_responses=True,
                connect_timeout=timeout,
                stream_timeout=timeout,
            )
            self._redis = await stack.enter_async_context(client)
            self._scripts = {
                name: client.register_script(getattr(scripts, name)) for name in scripts.__all__
            }
            send, receive = anyio.create_memory_object_stream[_Deferred](math.inf)
            self._send = send
            self._drained = anyio.Event()
            group = await stack.enter_async_context(anyio.create_task_group())
            group.start_soon(self._send_deferred, receive)
            group.start_soon(self._renew_leases)
            self._group = group
            stack.callback(group.cancel_scope.cancel)  # runs first: stops both tasks
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def aclose(self) -> None:
        """Send what is still queued (for at most twice ``timeout_s``: a circuit's
        opening, the last corrections and releases), stop the background tasks and
        close the connection. Not shielded: the task groups it leaves were entered
        outside any scope opened here, and must be left in the same nesting."""
        stack, self._stack = self._stack, None
        send, self._send = self._send, None
        if send is not None and self._drained is not None:
            send.close()
            with anyio.move_on_after(self.config.timeout_s * 2):
                await self._drained.wait()
        self._redis = None
        if stack is not None:
            await stack.aclose()

    # -- calls ----------------------------------------------------------------------------

    def tag_of(self, providers: Mapping[str, BoundProvider], provider: str) -> str:
        """The start of every key of ``provider``'s API key (:meth:`KeySpace.tag`), by a
        digest of the key it is bound with now (or of its name, with none)."""
        bound = providers.get(provider)
        credential = bound.credential if bound is not None else None
        tag = self._tags.get((provider, credential))
        if tag is None:
            tag = self._tags[(provider, credential)] = self.keys.tag(
                digest_of(credential, provider)
            )
        return tag

    def lease_id(self) -> str:
        """A new concurrency lease's id: unique across processes."""
        return f"{self._owner}-{next(self._lease_numbers)}"

    @property
    def away(self) -> bool:
        """Whether a call failed in the last ``_AWAY_S`` (calls now fail without trying)."""
        return anyio.current_time() < self._away_until

    async def run(
        self,
        script: str,
        keys: Sequence[str],
        args: Sequence[str | int | float],
        operation: str,
        *,
        judges: bool = True,
    ) -> Any:
        """Run one of :mod:`.scripts` (by name); its reply, or StoreUnavailableError.

        A failure marks the store away for ``_AWAY_S`` (calls then fail at once), unless
        ``judges`` is False: a background call's timeout may be this process's own doing
        (an event loop kept busy by its callers leaves the answers unread), and must not
        fail the admissions of the requests that follow."""
        if self._redis is None:
            raise StoreUnavailableError(store=self.name, operation=operation, reason="closed")
        if anyio.current_time() < self._away_until:
            raise StoreUnavailableError(
                store=self.name, operation=operation, reason="it failed moments ago"
            )
        reason = ""
        for tries_left in (1, 0):
            try:
                with anyio.move_on_after(self.config.timeout_s * 2):
                    return await self._scripts[script](keys=keys, args=args)
                reason = f"no answer in {self.config.timeout_s * 2:g} s"
                break
            except Exception as exc:
                if not _is_store_failure(exc):
                    raise
                reason = f"{type(exc).__name__}: {exc}"
                # A connection the pool kept across a restart of Redis fails on its
                # first use: one more try, on a new connection, tells that from a
                # store that is really away (a refused connect fails at once).
                if not (tries_left and _is_connection_error(exc)):
                    break
        if judges:
            self._away_until = anyio.current_time() + _AWAY_S
        raise StoreUnavailableError(store=self.name, operation=operation, reason=reason)

    def defer(
        self,
        script: str,
        keys: Sequence[str],
        args: Sequence[str | int | float],
        operation: str,
    ) -> None:
        """Send a script in the background, in order, without waiting for it: what a
        request needs done but need not wait for (a correction, a release). If the store
        is away it is lost, which errs on the safe side (a refund not given, a slot
        that expires with its lease)."""
        send = self._send
        if send is not None:
            send.send_nowait((script, keys, args, operation))
            self._unsent += 1

    async def flush(self) -> None:
        """Wait until every call :meth:`defer` queued so far was sent (or lost, the store
        being away): before a process that may be killed without closing (a Ray actor
        between two batches) counts its corrections, releases and settlements as done.
        Bounded like one call: at most twice ``timeout_s`` per call still unsent."""
        while self._unsent and self._send is not None:
            event = self._flushed = anyio.Event()
            with anyio.move_on_after(self.config.timeout_s * 2):
                await event.wait()

    async def _send_deferred(self, receive: MemoryObjectReceiveStream[_Deferred]) -> None:
        try:
            await self._send_each(receive)
        finally:
            if self._drained is not None:
                self._drained.set()

    async def _send_each(self, receive: MemoryObjectReceiveStream[_Deferred]) -> None:
        """Everything queued is sent at once, up to ``_DEFERRED_BATCH`` calls in flight
        together (coredis spreads them over its pool): one call at a time, behind the
        admissions, would fall behind under load without bound, and the concurrency
        limits would fill with the leases of requests that had ended."""
        async with receive:
            async for first in receive:
                batch = [first]
                while len(batch) < _DEFERRED_BATCH:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break  # nothing more queued now, or the queue was closed
                if len(batch) == 1:
                    await self._send_one(first)
                    continue
                async with anyio.create_task_group() as group:
                    for item in batch:
                        group.start_soon(self._send_one, item)

    async def _send_one(self, item: _Deferred) -> None:
        script, keys, args, operation = item
        try:
            await self.run(script, keys, args, operation, judges=False)
            self._warned = False
        except StoreUnavailableError as exc:
            if not self._warned:
                self._warned = True
                self._log.warning(
                    "store.unavailable",
                    store=self.name,
                    operation=operation,
                    reason=exc.reason,
                )
        finally:
            self._unsent -= 1
            if self._unsent == 0 and self._flushed is not None:
                self._flushed.set()
                self._flushed = None

    async def _renew_leases(self) -> None:
        period = self.config.lease_s / 3
        while True:
            await anyio.sleep(period)
            await self.renew_claims()
            live = {key: ids for key, ids in self.leases.items() if ids}
            if not live:
                continue
            keys = list(live)
            args: list[str | int | float] = ["", self.lease_us]
            for key in keys:
                ids = sorted(live[key])
                args.append(len(ids))
                args.extend(ids)
            # if the store is away, renewed at the next period (an expired lease is not
            # revived: its slot may have been given to another process meanwhile)
            with suppress(StoreUnavailableError):
                await self.run("RENEW", keys, args, "concurrency lease renewal")

    def hold_claim(self, key: str, ttl_s: float) -> float:
        """Note a claim this process now holds for ``ttl_s`` (its request's deadline); the
        ttl to set in Redis: at most ``lease_s``, renewed while the claim is held, so
        that a killed process frees its keys within a lease rather than a deadline."""
        self.claims[key] = anyio.current_time() + ttl_s
        return min(ttl_s, self.config.lease_s)

    def drop_claim(self, key: str) -> None:
        self.claims.pop(key, None)

    async def renew_claims(self) -> None:
        """Move the expiry of every claim still held to a lease from now (or its
        deadline, if sooner); claims past their deadline are forgotten (they lapse)."""
        now = anyio.current_time()
        lease = self.config.lease_s
        for key in [k for k, until in self.claims.items() if until <= now]:
            del self.claims[key]
        if not self.claims:
            return
        keys = list(self.claims)
        ttls = [max(round(min(lease, self.claims[k] - now) * 1000), 1) for k in keys]
        with suppress(StoreUnavailableError):  # renewed at the next period
            await self.run("CLAIM_RENEW", keys, [self._owner, *ttls], "idempotency claim renewal")

    # -- messages -------------------------------------------------------------------------

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback`` with every message published on ``channel`` from now on
        (one listener per channel), for the client's life. Messages published while the
        store is away are lost: a listener must also read the state it follows when it
        starts following it."""
        if channel in self._listeners or self._group is None:
            return
        self._listeners[channel] = callback
        self._group.start_soon(self._listen, channel, callback)

    def publish(self, channel: str, message: str) -> None:
        """Publish ``message`` (followed by ``|`` and this connection's id, so that its
        own listener can ignore it) on ``channel``, in the background."""
        self.defer("PUBLISH", [], [channel, f"{message}|{self._owner}"], "message")

    async def _listen(self, channel: str, callback: Callable[[str], None]) -> None:
        while True:
            try:
                async with self._redis.pubsub(
                    channels=[channel], ignore_subscribe_messages=True
                ) as pubsub:
                    async for message in pubsub:
                        if message.get("type") == "message":
                            self._listeners[channel](str(message["data"]))
            except Exception as exc:
                if not _is_store_failure(exc):
                    raise
            await anyio.sleep(_AWAY_S)

    # -- leases ---------------------------------------------------------------------------

    def hold_leases(self, keys: Sequence[str], lease: str) -> None:
        for key in keys:
            self.leases.setdefault(key, set()).add(lease)

    def release_leases(self, keys: Sequence[str], lease: str) -> None:
        for key in keys:
            held = self.leases.get(key)
            if held is not None:
                held.discard(lease)
        self.defer("RELEASE", keys, [lease], "concurrency release")


def _is_connection_error(exc: Exception) -> bool:
    import coredis.exceptions

    return isinstance(exc, coredis.exceptions.ConnectionError | ConnectionError)


def _is_store_failure(exc: Exception) -> bool:
    """Whether ``exc`` is Redis not answering (rather than a bug of ours)."""
    import coredis.exceptions

    return isinstance(
        exc, coredis.exceptions.RedisError | OSError | TimeoutError | anyio.BrokenResourceError
    )
