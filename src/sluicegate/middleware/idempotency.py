"""Idempotency: one key per logical request, sent on every attempt; twins sent once.

Why a key at all: a retry after a timeout or a cut connection may repeat a request the
provider already ran and billed. The ``Idempotency-Key`` header lets the provider (and
our mock server, which counts them) recognise the repeat. The Stainless-generated SDKs
make such a key and never send it; here it is made once per logical request, *outside*
fallback and retry (:attr:`Phase.IDEMPOTENCY`), so every attempt carries the same key and
the dispatcher puts it on the wire (after the codec, so no provider can leave it out).

Two kinds of key, two costs:

- **Generated** (no ``idempotency_key`` given): ``sg-<random per process>-<counter>``,
  unique across processes and machines that share an API key, made with a counter and
  one string format instead of a uuid4 per request. Nothing is stored and no lock is
  taken: a generated key belongs to exactly one call, so remembering it would only cost
  memory. The process part is redrawn in a forked child, so a child never repeats its
  parent's keys.
- **Caller-given** (``client.chat(..., idempotency_key="order-42")``): the caller says
  "these calls are the same request", so sluicegate honours it on its side too:

  * *single flight*: while a call with that key is in flight, a twin does not go to the
    wire; it waits for the first call's outcome and shares it (the same Response, or a
    copy of the same error);
  * *replay*: a successful Response is kept in a bounded :class:`StateStore` for
    ``ttl_s``, so re-running the key (a resumed job, a caller's own retry loop) returns
    it without a call, and so without a new charge.

  A key names one request: reusing it for a different model, messages or parameters is
  a caller bug that would silently return the wrong answer, so it is refused with a
  :class:`~sluicegate.errors.BadInputError` (as Stripe refuses it), checked against a
  16-byte fingerprint rather than a kept copy of the prompt.

Shared and replayed answers come back with ``attempts=0``: no request was sent for this
call. Stages outside this one (cost, budget) must not charge such a Response again.

Decisions worth knowing:

- **Leader cancelled**: when the call that went to the wire is cancelled (its caller
  gave up), its waiting twins are not failed with someone else's cancellation: the first
  twin to wake becomes the new leader and sends the request; the others wait on it.
  A leader that *fails* (any ``Exception``) shares that failure; a caller who wants a
  fresh try calls again, and the failure is not stored.
- **Streams** are not single-flighted: sharing a live stream would tie every consumer to
  the slowest one's pace, and a task that holds one stream open while asking for its
  twin would wait on itself forever. A streamed call with a caller key is still sent
  with its key, its final Response is recorded when the stream ends, and it is answered
  *without a call* when a record exists (or a plain twin is in flight): the stored
  Response is replayed as a synthetic stream (text delta, tool-call deltas, usage,
  finish, done). Plain and streamed calls of one key share records.
- A twin waits as long as the leader runs; the leader's own deadline and timeouts
  bound that. A caller who needs a tighter bound wraps the call in a cancel scope,
  which cancels only the waiting twin.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import os
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.clock import AnyioClock, Clock
from sluicegate.errors import BadInputError, ConfigError
from sluicegate.middleware.deadline import current_deadline, deadline_error
from sluicegate.stage_settings import stage_policy
from sluicegate.stores import MemoryStore, StateStore
from sluicegate.streaming import EventStream
from sluicegate.types import (
    Done,
    FinishEvent,
    Request,
    Response,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)

if TYPE_CHECKING:
    from sluicegate.stores.redis.records import SharedRecords

__all__ = [
    "IdempotencyPolicy",
    "IdempotencyRecord",
    "IdempotencyStage",
    "build",
    "key_for_model",
    "new_idempotency_key",
]

_STORE_PREFIX = "idem:"
_CLAIM_POLL_S = 0.05
"""How often a twin asks again while another process sends its key's request."""
_CLAIM_TTL_S = 600.0
"""The longest a claim lasts (a request with no deadline)."""
_WAITED_PAST = "the request's deadline passed while another process sent the same idempotency key"
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")
"""Visible ASCII, at most 255 characters (Stripe's limit): it goes into an HTTP header,
where a space or line break would be rejected or, worse, split the header."""


@dataclass(frozen=True, slots=True)
class IdempotencyPolicy:
    """How the idempotency stage behaves (``stage_settings={"idempotency": ...}``).

    ``ttl_s``: how long a caller-keyed successful Response is replayed. An hour by
    default: the in-memory store lives only as long as the process, so a day's TTL would
    mostly hold memory for re-runs that never come, while an hour covers a caller's own
    retry loop and a job resumed in the same process. 0 turns replay off (single flight
    stays). ``max_entries`` bounds the default in-memory store (least recently used
    entries go first; about one Response each). ``generate_keys``: give keyless requests
    a fresh key (sent as ``Idempotency-Key``); off, they are sent without one.
    ``store``: where records live, if not a private :class:`MemoryStore` on the client's
    clock (a shared store makes replays work across processes).
    """

    ttl_s: float = 3600.0
    max_entries: int = 10_000
    generate_keys: bool = True
    store: StateStore[IdempotencyRecord] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.ttl_s, bool) or not (
            isinstance(self.ttl_s, int | float) and self.ttl_s >= 0 and not math.isnan(self.ttl_s)
        ):
            raise ConfigError(f"idempotency ttl_s must be a number >= 0, got {self.ttl_s!r}")
        if isinstance(self.max_entries, bool) or not (
            isinstance(self.max_entries, int) and self.max_entries >= 0
        ):
            raise ConfigError(
                f"idempotency max_entries must be an integer >= 0, got {self.max_entries!r}"
            )

    @classmethod
    def from_setting(cls, value: Any) -> IdempotencyPolicy | None:
        """Read ``stage_settings["idempotency"]`` by the rules every stage shares
        (:func:`~sluicegate.stage_settings.stage_policy`); None: the stage is off."""
        return stage_policy("idempotency", cls, value)


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What the store keeps per caller key: the answer, and the fingerprint of the request
    it answered (to refuse the key's reuse for a different request)."""

    fingerprint: bytes
    response: Response


class _KeySource:
    """Generated keys: a random per-process part and a counter, far cheaper than uuid4
    (no system randomness per request) and as unique: 96 random bits per process."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = ""
        self._counter = itertools.count(1)
        self.reseed()

    def reseed(self) -> None:
        self._prefix = f"sg-{secrets.token_hex(12)}-"
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"


_keys = _KeySource()
if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's keys
    os.register_at_fork(after_in_child=_keys.reseed)


def new_idempotency_key() -> str:
    """A fresh key, unique across processes: what a keyless request is sent with."""
    return _keys()


def key_for_model(key: str, model: str) -> str:
    """The key of one model's share of a logical request (``"<key>:<model>"``), when one
    key is sent to several models: a fallback model, or each model of a fan-out. A
    server that ties a key to one request body (as Stripe's API does) would refuse the
    same key with another model, and two models' answers are not one result."""
    return f"{key}:{model}"


def request_fingerprint(request: Request) -> bytes:
    """A digest of what the provider is asked (model, messages, parameters), the same
    for a plain and a streamed call and across processes, so it can be stored anywhere."""
    text = repr((request.model, request.messages, request.params))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class _Flight:
    """One caller-keyed call on the wire. ``done`` is set when it ends: with a response,
    with an error, or with neither (the leader was cancelled: a twin takes over)."""

    __slots__ = ("done", "error", "fingerprint", "response")

    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = fingerprint
        self.done = anyio.Event()
        self.response: Response | None = None
        self.error: Exception | None = None


class IdempotencyStage:
    """The middleware: attaches keys, single-flights and replays caller-keyed calls."""

    __slots__ = (
        "_clock",
        "_flights",
        "_new_key",
        "_policy",
        "_replays",
        "_shared",
        "_store",
        "_ttl_s",
    )

    def __init__(
        self,
        policy: IdempotencyPolicy,
        store: StateStore[IdempotencyRecord] | None = None,
        shared: SharedRecords | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._policy = policy
        chosen = store if store is not None else policy.store
        self._store: StateStore[IdempotencyRecord] = (
            chosen if chosen is not None else MemoryStore(max_entries=policy.max_entries)
        )
        # A store that can keep nothing is not asked: the path stays one dict lookup.
        self._replays = policy.ttl_s > 0 and not (
            isinstance(self._store, MemoryStore) and self._store.max_entries == 0
        )
        self._ttl_s = policy.ttl_s
        self._new_key = _keys if policy.generate_keys else None
        self._flights: dict[str, _Flight] = {}
        self._shared = shared
        """With a shared store: records and claims in it, so twins in other processes
        wait for or replay the first (see :mod:`sluicegate.stores.redis.records`)."""
        self._clock: Clock = clock if clock is not None else AnyioClock()
        if shared is not None:
            self._replays = False  # the shared records replace the local store

    @property
    def policy(self) -> IdempotencyPolicy:
        return self._policy

    @property
    def in_flight(self) -> int:
        """Caller-keyed calls on the wire now (each may have twins waiting on it)."""
        return len(self._flights)

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        metadata = request.metadata
        key = metadata.idempotency_key
        if key is None:
            if self._new_key is None:
                return await call_next(request)
            keyed = request.replace(metadata=metadata.replace(idempotency_key=self._new_key()))
            return await call_next(keyed)
        if type(key) is not str or _VALID_KEY.fullmatch(key) is None:
            raise BadInputError(
                f"idempotency_key must be 1 to 255 visible ASCII characters (no spaces), "
                f"got {key!r}",
                field="idempotency_key",
            )
        fingerprint = request_fingerprint(request)
        if request.stream:
            return await self._stream(request, key, fingerprint, call_next)
        if self._shared is not None:
            return await self._plain_shared(request, key, fingerprint, call_next, self._shared)
        return await self._plain(request, key, fingerprint, call_next)

    # -- plain calls ----------------------------------------------------------------------

    async def _plain(
        self, request: Request, key: str, fingerprint: bytes, call_next: CallNext
    ) -> Reply:
        while True:
            shared = await self._known_answer(key, fingerprint)
            if shared is not None:
                return shared
            if key not in self._flights:  # nobody started while the store was asked
                return await self._lead(request, key, fingerprint, call_next)

    async def _known_answer(self, key: str, fingerprint: bytes) -> Response | None:
        """A twin's outcome or a stored record, else None (and then nobody is in flight
        as this returns, unless the store's ``get`` suspended; the caller checks again)."""
        while (flight := self._flights.get(key)) is not None:
            _same_request(key, flight.fingerprint, fingerprint)
            await flight.done.wait()
            if flight.response is not None:
                return flight.response.replace(attempts=0)
            if flight.error is not None:
                raise _copy_error(flight.error)
            # The leader was cancelled: loop; the first twin here finds no flight and
            # leads, the others find its flight and wait on it.
        if self._replays:
            record = await self._store.get(_STORE_PREFIX + key)
            if record is not None:
                _same_request(key, record.fingerprint, fingerprint)
                return record.response.replace(attempts=0)
        return None

    async def _lead(
        self, request: Request, key: str, fingerprint: bytes, call_next: CallNext
    ) -> Reply:
        flight = _Flight(fingerprint)
        self._flights[key] = flight
        try:
            reply = await call_next(request)
            if isinstance(reply, Response):
                flight.response = reply
                if self._replays:
                    record = IdempotencyRecord(fingerprint, reply)
                    await self._store.put(_STORE_PREFIX + key, record, ttl_s=self._ttl_s)
            return reply
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
            flight.done.set()

    # -- plain calls, shared across processes ---------------------------------------------

    async def _plain_shared(
        self,
        request: Request,
        key: str,
        fingerprint: bytes,
        call_next: CallNext,
        shared: SharedRecords,
    ) -> Reply:
        """Twins in this process wait on its flight as without a store; the one that
        would lead first claims the key in the store: it sends the request only if no
        other process has answered it or is answering it."""
        from sluicegate.stores.redis.records import Claim

        while True:
            while (flight := self._flights.get(key)) is not None:
                _same_request(key, flight.fingerprint, fingerprint)
                await flight.done.wait()
                if flight.response is not None:
                    return flight.response.replace(attempts=0)
                if flight.error is not None:
                    raise _copy_error(flight.error)
            claim = await shared.claim(request.provider, key, self._claim_ttl(request))
            if claim.state == Claim.RECORDED and claim.record is not None:
                _same_request(key, claim.record.fingerprint, fingerprint)
                return claim.record.response.replace(attempts=0)
            if claim.state == Claim.MINE:
                if key in self._flights:
                    continue  # a twin here led while the store was asked: wait on it
                return await self._lead_shared(request, key, fingerprint, call_next, shared)
            # another process is sending it: ask again shortly, until the deadline
            deadline = current_deadline(request)
            if deadline is not None and self._clock.now() + _CLAIM_POLL_S >= deadline:
                raise deadline_error(request, _WAITED_PAST)
            await anyio.sleep(_CLAIM_POLL_S)

    def _claim_ttl(self, request: Request) -> float:
        """A claim lasts as long as its request may: past its deadline the request has
        failed, and a killed process's claim then frees the key."""
        deadline = current_deadline(request)
        if deadline is None:
            return _CLAIM_TTL_S
        return min(max(deadline - self._clock.now(), 0.0) + 1.0, _CLAIM_TTL_S)

    async def _lead_shared(
        self,
        request: Request,
        key: str,
        fingerprint: bytes,
        call_next: CallNext,
        shared: SharedRecords,
    ) -> Reply:
        flight = _Flight(fingerprint)
        self._flights[key] = flight
        recorded = False
        try:
            reply = await call_next(request)
            if isinstance(reply, Response):
                flight.response = reply
                record = IdempotencyRecord(fingerprint, reply) if self._ttl_s > 0 else None
                await shared.put(request.provider, key, record, self._ttl_s)
                recorded = True
            return reply
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            if not recorded:
                shared.give_up(request.provider, key)
            if self._flights.get(key) is flight:
                del self._flights[key]
            flight.done.set()

    # -- streamed calls -------------------------------------------------------------------

    async def _stream(
        self, request: Request, key: str, fingerprint: bytes, call_next: CallNext
    ) -> Reply:
        known = await self._known_answer(key, fingerprint)
        shared = self._shared
        if known is None and shared is not None:
            record = await shared.get(request.provider, key)
            if record is not None:
                _same_request(key, record.fingerprint, fingerprint)
                known = record.response.replace(attempts=0)
        if known is not None:
            return EventStream(_ReplaySource(known))
        reply = await call_next(request)
        if not isinstance(reply, EventStream):
            return reply
        if shared is not None and self._ttl_s > 0:
            return reply.observe(
                on_close=_SharedRecorder(shared, request.provider, key, fingerprint, self._ttl_s)
            )
        if self._replays:
            recorder = _Recorder(self._store, _STORE_PREFIX + key, fingerprint, self._ttl_s)
            return reply.observe(on_close=recorder)
        return reply


def _same_request(key: str, known: bytes, fingerprint: bytes) -> None:
    if known != fingerprint:
        raise BadInputError(
            f"idempotency_key {key!r} was already used for a different request (model, "
            "messages or parameters differ); give each distinct request its own key",
            field="idempotency_key",
        )


def _copy_error(error: Exception) -> Exception:
    """The leader's error for one twin: a copy, so that twins raising it at once do not
    rewrite one shared traceback; the original if it cannot be copied."""
    try:
        clone = copy.copy(error)
    except Exception:
        return error
    clone.__cause__ = error.__cause__
    clone.__context__ = error.__context__
    clone.__suppress_context__ = error.__suppress_context__
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list):  # a note added to one twin's error is not everyone's
        clone.__notes__ = list(notes)
    return clone.with_traceback(error.__traceback__)


class _ReplaySource:
    """A stored Response told again as a stream: the events a provider would have sent,
    folded so that :class:`~sluicegate.streaming.ResponseBuilder` rebuilds the same
    Response, then Done with it."""

    __slots__ = ("_events",)

    def __init__(self, response: Response) -> None:
        events: deque[StreamEvent] = deque()
        if response.text:
            events.append(TextDelta(response.text))
        for index, call in enumerate(response.tool_calls):
            events.append(ToolCallDelta(index, call.id, call.name, call.arguments))
        events.append(UsageEvent(response.usage))
        events.append(FinishEvent(response.finish_reason))
        events.append(Done(response))
        self._events = events

    async def next_event(self) -> StreamEvent:
        if not self._events:
            raise StopAsyncIteration
        return self._events.popleft()

    async def aclose(self) -> None:
        self._events.clear()


class _Recorder:
    """Records a caller-keyed stream's final Response as Done passes (its ``on_close``);
    a stream cut or closed early is not recorded: it was not a success."""

    __slots__ = ("_fingerprint", "_key", "_store", "_ttl_s")

    def __init__(
        self,
        store: StateStore[IdempotencyRecord],
        key: str,
        fingerprint: bytes,
        ttl_s: float,
    ) -> None:
        self._store = store
        self._key = key
        self._fingerprint = fingerprint
        self._ttl_s = ttl_s

    async def __call__(self, response: Response | None, error: BaseException | None) -> None:
        if response is not None:
            record = IdempotencyRecord(self._fingerprint, response)
            await self._store.put(self._key, record, ttl_s=self._ttl_s)


class _SharedRecorder:
    """As :class:`_Recorder`, into the shared store (a stream holds no claim: only its
    answer is recorded)."""

    __slots__ = ("_fingerprint", "_key", "_provider", "_shared", "_ttl_s")

    def __init__(
        self, shared: SharedRecords, provider: str, key: str, fingerprint: bytes, ttl_s: float
    ) -> None:
        self._shared = shared
        self._provider = provider
        self._key = key
        self._fingerprint = fingerprint
        self._ttl_s = ttl_s

    async def __call__(self, response: Response | None, error: BaseException | None) -> None:
        if response is not None:
            record = IdempotencyRecord(self._fingerprint, response)
            await self._shared.put(self._provider, self._key, record, self._ttl_s)


def build(context: ChainContext) -> IdempotencyStage | None:
    """The stage from ``settings["idempotency"]`` (None → defaults, False → left out).

    The default store is private to the client and expires records on the client's
    clock, so tests move a FakeClock past the TTL instead of waiting.
    """
    policy = IdempotencyPolicy.from_setting(context.settings.get("idempotency"))
    if policy is None:
        return None
    store = policy.store
    if store is None:
        store = MemoryStore(max_entries=policy.max_entries, clock=context.clock)
    shared = None
    if context.store is not None and policy.store is None:
        from sluicegate.stores.redis.records import SharedRecords

        shared = SharedRecords(context.store, context.providers)
    return IdempotencyStage(policy, store, shared, context.clock)
