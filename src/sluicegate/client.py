"""The Client: builds the chain once, then sends requests through it.

Everything that can be decided once is decided in ``__aenter__``: plugins are loaded and
asked for their providers and middleware, keys and base URLs are resolved, transports are
opened with pools sized to the concurrency, and the chain is composed. A call then costs
building one Request and one plain await per stage.

Observers are told here and in the Dispatcher, never by a stage, so ``disable=`` cannot
silence them: ``sluicegate_request_finished`` once per logical request, when a plain call
returns or raises and when a stream ends, fails or is closed. A client nobody observes
pays one empty-tuple check per call for it.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from sluicegate.bulk import DEFAULT_PATIENCE_S
from sluicegate.chain import (
    CallNext,
    ChainContext,
    CircuitBoard,
    MiddlewareSpec,
    compose,
    order_specs,
    stage_name,
)
from sluicegate.clock import AnyioClock, Clock
from sluicegate.config.discover import CONFIG_ENV
from sluicegate.config.file import Config, load_config
from sluicegate.cost.budget import Budget
from sluicegate.cost.ledger import Ledger
from sluicegate.cost.prices import ModelPrice, PriceTable
from sluicegate.cost.stage import Accounting
from sluicegate.dispatch import Dispatcher
from sluicegate.errors import ConfigError
from sluicegate.middleware.deadline import DEFAULT_TOTAL_TIMEOUT, DeadlinePolicy, kept_below
from sluicegate.middleware.idempotency import key_for_model
from sluicegate.observers import Observers, RequestFinished, StreamEnd
from sluicegate.plugins.manager import (
    PluginRegistry,
    collect,
    make_plugin_manager,
    observer_functions,
    register_runtime_plugin,
)
from sluicegate.providers.base import BoundProvider, ProviderSettings, ProviderSpec
from sluicegate.providers.endpoint import resolve_endpoint
from sluicegate.sse import MAX_EVENT_BYTES
from sluicegate.stage_builder import StageBuilder
from sluicegate.stores.redis.config import RedisStore, store_from_setting
from sluicegate.streaming import EventStream, expect_stream
from sluicegate.transports import make_transport
from sluicegate.transports.base import MAX_RESPONSE_BYTES, Transport, TransportOptions
from sluicegate.transports.total import bounded
from sluicegate.types import (
    Message,
    Metadata,
    Params,
    Request,
    Response,
    StreamEvent,
    TextDelta,
    coerce_messages,
    new_request_id,
)

if TYPE_CHECKING:
    from sluicegate.batch.batches import Batches
    from sluicegate.bulk.availability import ModelAvailability
    from sluicegate.bulk.map import BulkMap, RequestSource
    from sluicegate.stores.redis.connection import SharedStore

MessagesInput = str | Iterable[Message | Mapping[str, Any]]
_METADATA_KEYS = (
    "caller_id",
    "tags",
    "idempotency_key",
    "headers",
    "deadline",
    "fallbacks",
    "budget",
    "timeout",
    "connect_timeout",
    "reasks",
)
_CALL_OPTIONS = frozenset((*_METADATA_KEYS, "total_timeout"))
"""The keyword arguments of a call that are the client's, not the provider's parameters."""
_BLANK_METADATA = Metadata()
"""What a call that sets none of ``_CALL_OPTIONS`` starts from (copied with its id)."""
_ATTEMPT_TIMERS = ("timeout", "connect_timeout")
"""Per-call replacements of the client's transport timers, checked when given."""


def _attempt_timer(name: str, value: Any) -> float | None:
    """A call's own ``timeout=``/``connect_timeout=``: None keeps the client's; else a
    positive, finite number of seconds (a transport timer cannot wait forever per call,
    and ``nan`` or ``inf`` would fail deep inside the HTTP library instead of here)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ConfigError(
            f"{name} must be a positive number of seconds (None: the client's), got {value!r}"
        )
    return float(value)


def _size_bound(name: str, value: Any) -> int | None:
    """``max_response_bytes``/``max_event_bytes``: None (no bound) or a positive int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive number of bytes or None, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class FanOutResult:
    """One model's outcome in :meth:`Client.fan_out`: a response or the error, never both."""

    model: str
    response: Response | None
    error: BaseException | None
    latency: float

    @property
    def ok(self) -> bool:
        return self.response is not None

    @property
    def text(self) -> str:
        return self.response.text if self.response is not None else ""


class ChatStream:
    """A streamed answer: iterate for events; ``response`` is set once the stream ended."""

    __slots__ = ("_events",)

    def __init__(self, events: EventStream) -> None:
        self._events = events

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events

    @property
    def response(self) -> Response | None:
        return self._events.response

    async def text_chunks(self) -> AsyncIterator[str]:
        """Only the text as it arrives."""
        async for event in self._events:
            if type(event) is TextDelta:
                yield event.text

    async def final_response(self) -> Response:
        """Read the rest of the stream and return its Response."""
        async for _ in self._events:
            pass
        assert self._events.response is not None
        return self._events.response


class Client:
    """Calls LLM providers through sluicegate's middleware chain.

    ``providers`` configures providers by name (key, base URL, or ``kind`` to add an
    OpenAI-compatible server under a new name); unconfigured ones read their environment
    variables as the official SDKs do. ``transport`` is ``"auto"`` (the native anyio
    transport on asyncio and trio, httpx2 when the environment names a proxy),
    ``"native"``, ``"aiohttp"``, ``"httpx2"`` or a Transport; ``http_client`` uses the
    caller's own ``httpx.AsyncClient``. ``disable`` removes middleware stages by name.
    ``stage_settings`` configures stages by name (``{"retry": RetryPolicy(...)}``);
    ``clock`` and ``rng`` replace time and randomness for every stage (tests).

    Time limits: ``connect_timeout`` per connection, ``timeout`` for the first byte and
    then every gap between bytes (so also between stream events), per attempt;
    ``total_timeout`` for a whole request, every attempt and wait included (default 600 s,
    so that no request hangs however slowly a server dribbles; None: no total limit; the
    wait in the client's own rate-limit queue before a request's first attempt does not
    count against it, see docs/middleware/deadline.md). A call's own ``timeout=``,
    ``connect_timeout=``, ``total_timeout=`` or ``deadline=`` overrides the client's for
    that call.

    Size bounds (see docs/errors.md): ``max_response_bytes`` for a plain answer's body
    (default 32 MiB; past it :class:`~sluicegate.errors.ResponseTooLargeError`) and
    ``max_event_bytes`` for one line or event of a stream (default 8 MiB; past it a
    :class:`~sluicegate.errors.StreamError` with ``error_type="event_too_large"``); None
    turns a bound off.

    Costs (see docs/cost.md): ``prices`` is a TOML price file (or a list of
    :class:`ModelPrice`) that overrides and adds to the plugins' prices; without it,
    ``SLUICEGATE_PRICES`` names the file. ``budget`` limits what the client may spend, in
    USD (or a :class:`Budget` shared with other clients); ``tag_budgets`` limits requests
    by tag. Every response carries ``cost``; :attr:`ledger` keeps the totals.

    Batch jobs (see docs/batch.md): :attr:`batches`; ``batch_limits`` overrides the
    per-job limits of providers' batch APIs, per provider name or ``"*"``, with a
    ``BatchLimits`` or the fields to change (``{"mock": {"max_requests": 1000}}``).

    Config file (see docs/config.md): ``config`` is a ``sluicegate.toml`` (or a loaded
    :class:`~sluicegate.config.Config`) whose providers and prices are added to what the
    plugins give; ``providers=`` and ``prices=`` win over it. Without it,
    ``SLUICEGATE_CONFIG`` names one; no file is read otherwise.

    Shared state (see docs/scale-out.md): ``store`` is a Redis URL
    (``"redis://127.0.0.1:6379/0"``) or a :class:`~sluicegate.stores.RedisStore`; without
    it, ``SLUICEGATE_STORE`` names one. With a store, rate limits, circuits, budgets and
    idempotency records are shared by every process given the same store, so four
    workers under one API key keep its limits between them. Without one, state is kept
    in this process.
    """

    def __init__(
        self,
        *,
        providers: Mapping[str, ProviderSettings] | None = None,
        concurrency: int = 64,
        transport: str | Transport = "auto",
        http_client: Any = None,
        plugins: Sequence[Any] = (),
        middleware: Sequence[MiddlewareSpec] = (),
        disable: Iterable[str] = (),
        load_entry_points: bool = True,
        timeout: float | None = 120.0,
        connect_timeout: float = 10.0,
        total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
        max_response_bytes: int | None = MAX_RESPONSE_BYTES,
        max_event_bytes: int | None = MAX_EVENT_BYTES,
        logger: Any = None,
        stage_settings: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        prices: str | os.PathLike[str] | Sequence[ModelPrice] | None = None,
        budget: float | Budget | None = None,
        tag_budgets: Mapping[str, float | Budget] | None = None,
        batch_limits: Mapping[str, Any] | None = None,
        store: str | RedisStore | None = None,
        config: str | os.PathLike[str] | Config | None = None,
    ) -> None:
        self._config = _config_from_setting(config)
        self._aliases: dict[str, str] = {}
        if self._config is not None:
            # the file's defaults apply where the argument was left at its default
            file = self._config
            defaults = file.defaults
            concurrency = int(_file_default(concurrency, 64, defaults, "concurrency") or 64)
            timeout = _file_default(timeout, 120.0, defaults, "timeout")
            connect = _file_default(connect_timeout, 10.0, defaults, "connect_timeout")
            connect_timeout = float(connect if connect is not None else 10.0)
            total_timeout = _file_default(
                total_timeout, DEFAULT_TOTAL_TIMEOUT, defaults, "total_timeout"
            )
            from sluicegate.limits.config import RateLimits
            from sluicegate.retry.policy import RetryPolicy

            stage_settings = dict(stage_settings or {})
            if file.limits and not {"rate_limit", "rate-limit"} & set(stage_settings):
                stage_settings["rate_limit"] = RateLimits(rules=file.limits)
            if "attempts" in defaults and "retry" not in stage_settings:
                stage_settings["retry"] = RetryPolicy(attempts=int(defaults["attempts"] or 1))
            self._aliases = dict(file.aliases)

        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        # the client's own timers, checked as a call's are (None: no read timeout)
        _attempt_timer("timeout", timeout)
        _attempt_timer("connect_timeout", connect_timeout)
        self._user_prices = _user_prices(prices)
        self._budget = _as_budget(budget, "client")
        self._tag_budgets = {
            tag: _tag_budget(tag, limit) for tag, limit in (tag_budgets or {}).items()
        }
        self._ledger = Ledger()
        self._prices: PriceTable | None = None
        self._settings = dict(providers or {})
        if self._config is not None:  # the file's providers and prices; the arguments win
            self._settings = {**self._config.provider_settings(), **self._settings}
            self._user_prices = self._config.prices + self._user_prices
        self._concurrency = concurrency
        self._transport_choice = transport
        self._http_client = http_client
        self._extra_middleware = list(middleware)
        self._disabled = frozenset(stage_name(n) for n in disable)
        self._timeout = timeout
        self._transport_options = TransportOptions(
            concurrency,
            connect_timeout,
            timeout,
            _size_bound("max_response_bytes", max_response_bytes),
        )
        self._max_event_bytes = _size_bound("max_event_bytes", max_event_bytes)
        self._logger = logger
        # stage names are spelt with underscores ("rate_limit"); the hyphenated spelling of
        # earlier releases ("rate-limit") is still accepted here and in ``disable``
        self._stage_settings = {stage_name(k): v for k, v in (stage_settings or {}).items()}
        if total_timeout is not None and not (
            total_timeout == DEFAULT_TOTAL_TIMEOUT and "deadline" in self._stage_settings
        ):
            # (the default yields to a stage_settings["deadline"]; a total_timeout the
            # caller chose does not)
            if "deadline" in self._stage_settings:
                raise ConfigError(
                    "give the total time limit once: total_timeout= or "
                    "stage_settings['deadline'], not both"
                )
            self._stage_settings["deadline"] = DeadlinePolicy(total=total_timeout)
        self._clock: Clock = clock or AnyioClock()
        self._rng = rng or random.Random()
        self._pm, self._plugin_errors = make_plugin_manager(
            load_entry_points=load_entry_points, plugins=plugins
        )
        self._registry: PluginRegistry | None = None
        # the providers and observers are one object each for the client's life, updated
        # in place by each build: the stages and the Dispatcher hold them (see ChainContext)
        self._providers: dict[str, BoundProvider] = {}
        self._observers = Observers()
        self._circuits = CircuitBoard()
        self._accounting: Accounting | None = None
        self._price_inputs: list[tuple[str, list[ModelPrice]]] = []
        self._stage_builder = StageBuilder()
        self._transports: dict[str, Transport] = {}
        self._handler: CallNext | None = None
        self._stages: list[str] = []
        self._batch_limits = dict(batch_limits or {})
        self._batches: Any = None
        self._store_config = store_from_setting(store)
        self._store: SharedStore | None = None

    def __repr__(self) -> str:
        state = "open" if self._handler is not None else "closed"
        return (
            f"<sluicegate.Client {state} providers={sorted(self._providers)} stages={self._stages}>"
        )

    # -- building -------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        try:
            if self._store_config is not None and self._store is None:
                from sluicegate.stores.redis.connection import SharedStore

                store = SharedStore(self._store_config, self._logger)
                await store.open()
                self._store = store
            self._build(keep=False)
        except BaseException:
            # a bad setting found after the providers were bound (a misspelt stage, a
            # stage that fails to build) must not leave their HTTP sessions open
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def flush_store(self) -> None:
        """Wait until what this client sends its shared store in the background (token
        corrections, concurrency releases, budget settlements) has been sent. A process
        that may end without closing the client (a Ray actor between two batches) calls
        it so that nothing it counted is left unsent; without a store it returns at once."""
        if self._store is not None:
            await self._store.flush()

    async def aclose(self) -> None:
        """Close every transport the client opened (not one the caller handed in), and
        its connection to the shared store."""
        transports = [t for t in self._transports.values() if t is not self._transport_choice]
        self._transports = {}
        self._handler = None
        store, self._store = self._store, None
        with anyio.CancelScope(shield=True):
            for transport in transports:
                await transport.aclose()
        if store is not None:
            # its task groups were entered in __aenter__: left here, outside any new
            # cancel scope, or anyio (and trio) report a corrupted cancel-scope stack
            await store.aclose()

    def register_plugin(self, plugin: Any) -> None:
        """Add a plugin at run time; an open client rebuilds its chain to include it.

        The rebuild keeps every stage the plugin does not replace, with its state (open
        circuits, rate-limit buckets and holds, the retry budget, idempotency records):
        see :mod:`sluicegate.stage_builder`. A provider the plugin adds is reachable at once.
        """
        register_runtime_plugin(self._pm, plugin, self._plugin_errors)
        if self._handler is not None:
            self._build(keep=True)

    @property
    def plugins(self) -> PluginRegistry:
        """What each loaded plugin contributed, and the plugins that failed."""
        if self._registry is None:
            self._registry = collect(self._pm, self._plugin_errors)
        return self._registry

    @property
    def stages(self) -> list[str]:
        """The middleware stages in the chain, outermost first."""
        return list(self._stages)

    @property
    def ledger(self) -> Ledger:
        """Requests, tokens and cost so far, per model, per tag and in total
        (``client.ledger.snapshot()``)."""
        return self._ledger

    @property
    def prices(self) -> PriceTable:
        """The prices this client uses: the plugins', then the user's price file."""
        if self._prices is None:
            self._prices = self._price_table(self.plugins)
        return self._prices

    @property
    def budget(self) -> Budget | None:
        """The client's budget, if it has one."""
        return self._budget

    @property
    def tag_budgets(self) -> Mapping[str, Budget]:
        """The budgets per tag."""
        return dict(self._tag_budgets)

    def _price_table(self, registry: PluginRegistry) -> PriceTable:
        return PriceTable.from_contributions(
            ((c.plugin, c.prices) for c in registry.contributions), *self._user_prices
        )

    @property
    def aliases(self) -> Mapping[str, str]:
        """The config file's model aliases (``[aliases]``: ``fast = "relay/gpt-4.1-mini"``),
        which every call resolves; read-only."""
        return MappingProxyType(self._aliases)

    @property
    def provider_names(self) -> frozenset[str]:
        """The providers an open client can send to (the ``provider`` of ``provider/model``):
        what a bulk run checks each input line's model against before sending anything."""
        return frozenset(self._providers)

    @property
    def batches(self) -> Batches:
        """The providers' batch APIs: submit requests as half-price jobs, watch them,
        read their results (see :mod:`sluicegate.batch.batches` and docs/batch.md)."""
        self._require_open()
        if self._batches is None:
            from sluicegate.batch.batches import Batches

            self._batches = Batches(
                self._providers,
                self.plugins.batch_apis,
                clock=self._clock,
                rng=self._rng,
                prices=self.prices,
                limits=self._batch_limits,
            )
        batches: Batches = self._batches
        return batches

    def _build(self, *, keep: bool) -> None:
        """Compose the chain. ``keep``: an open client rebuilding (a plugin registered), so
        the bound providers and the stages whose inputs did not change are reused; else
        (opening) everything is made anew, on the transports just opened."""
        if not keep:
            self._stage_builder.forget()
            self._accounting = None
        self._batches = None
        self._registry = collect(self._pm, self._plugin_errors)
        specs = {spec.name: spec for spec in self._registry.providers}
        bound = self._bind_providers(specs, self._providers if keep else {})
        self._providers.clear()
        self._providers.update(bound)
        self._observers.update(
            observer_functions(self._pm, "sluicegate_request_finished"),
            observer_functions(self._pm, "sluicegate_attempt_failed"),
        )
        if (self._budget is not None or self._tag_budgets) and "cost" in self._disabled:
            raise ConfigError(
                "the 'cost' stage is disabled but the client has a budget: nothing would keep it"
            )
        context = ChainContext(
            providers=self._providers,
            observers=self._observers,
            settings={
                **self._stage_settings,
                "logger": self._logger,
                "accounting": self._accounting_for(self._registry),
            },
            clock=self._clock,
            rng=self._rng,
            store=self._store,
            circuits=self._circuits,
        )
        all_specs = [*self._registry.middleware, *self._extra_middleware]
        self._check_stage_names({spec.name for spec in all_specs})
        stages = self._stage_builder.build(order_specs(all_specs, self._disabled), context)
        self._stages = [name for name, _ in stages]
        # deadlines are kept per attempt below the chain when the clock is the loop's
        # (see middleware/deadline.py); not at all when the deadline stage is off
        keeps_deadlines = "deadline" in self._stages and kept_below(self._clock)
        self._handler = compose(
            [middleware for _, middleware in stages],
            Dispatcher(
                self._providers,
                self._timeout,
                max_event_bytes=self._max_event_bytes,
                observers=self._observers,
                deadline_clock=self._clock if keeps_deadlines else None,
            ),
        )

    def _accounting_for(self, registry: PluginRegistry) -> Accounting:
        """What the cost stage prices and counts with: the same object as before while the
        plugins' prices are unchanged, so a rebuild keeps the cost stage (it is built anew,
        on the client's own ledger and budgets, when a plugin brings prices)."""
        price_inputs = [(c.plugin, c.prices) for c in registry.contributions]
        if self._accounting is None or price_inputs != self._price_inputs:
            self._prices = self._price_table(registry)
            self._accounting = Accounting(
                self._prices, self._ledger, self._budget, self._tag_budgets
            )
            self._price_inputs = price_inputs
        return self._accounting

    def _check_stage_names(self, known: set[str]) -> None:
        """A misspelt stage in ``disable`` or ``stage_settings`` would be silently ignored,
        leaving on what the caller meant to turn off: refuse it, naming the known stages."""
        listing = ", ".join(sorted(known))
        unknown = sorted(self._disabled - known)
        if unknown:
            raise ConfigError(f"disable: unknown stage(s) {unknown}; the stages are: {listing}")
        keys = {name.replace("-", "_") for name in known}
        unknown = sorted(k for k in self._stage_settings if k not in keys)
        if unknown:
            raise ConfigError(
                f"stage_settings: unknown stage(s) {unknown}; the stages are: {listing}"
            )

    def _bind_providers(
        self, specs: Mapping[str, ProviderSpec], previous: Mapping[str, BoundProvider]
    ) -> dict[str, BoundProvider]:
        """Every provider bound to its kind's spec; one in ``previous`` whose spec did not
        change is kept as it is (its codec, key and transport)."""
        names = list(specs) + [n for n in self._settings if n not in specs]
        bound: dict[str, BoundProvider] = {}
        for name in names:
            settings = self._settings.get(name, ProviderSettings())
            kind = settings.kind or name
            spec = specs.get(kind)
            if spec is None:
                known = ", ".join(sorted(specs))
                if self._config is not None and name in self._config.providers:
                    raise self._config.error(
                        f"unknown kind {kind!r} (registered kinds: {known})",
                        ("providers", name, "kind"),
                    )
                raise ConfigError(
                    f"provider {name!r}: unknown kind {kind!r} (registered kinds: {known})"
                )
            earlier = previous.get(name)
            if earlier is not None and earlier.spec == spec:
                bound[name] = earlier
                continue
            endpoint = resolve_endpoint(name, spec, settings)  # checked: ConfigError if unusable
            base_url, credential = endpoint.base_url, endpoint.credential
            use_own_transport = (
                spec.transport_factory is not None and base_url == spec.default_base_url
            )
            transport = self._transport_for(spec if use_own_transport else None)
            bound[name] = BoundProvider(
                name=name,
                spec=spec,
                codec=spec.factory(name, base_url, dict(settings.headers)),
                base_url=base_url,
                transport=bounded(transport),  # keeps timeouts.total, the deadline's
                credential=credential,
            )
        return bound

    def _transport_for(self, spec: ProviderSpec | None) -> Transport:
        key = f"provider:{spec.name}" if spec is not None else "http"
        transport = self._transports.get(key)
        if transport is None:
            if spec is not None and spec.transport_factory is not None:
                transport = spec.transport_factory(self._transport_options)
            else:
                transport = make_transport(
                    self._transport_choice, self._transport_options, http_client=self._http_client
                )
            self._transports[key] = transport
        return transport

    # -- calling --------------------------------------------------------------------------

    def _request(
        self, model: str, messages: MessagesInput, params: dict[str, Any], stream: bool
    ) -> Request:
        if self._aliases:
            model = self._aliases.get(model, model)
        if "/" not in model:
            raise ConfigError(
                f"model {model!r} must be named 'provider/model', e.g. 'openai/gpt-4o'"
            )
        if _CALL_OPTIONS.isdisjoint(params):  # the common call: nothing but parameters
            metadata = _BLANK_METADATA.replace(request_id=new_request_id())
        else:
            metadata = self._call_metadata(params)
        return Request(
            model=model,
            messages=coerce_messages(messages),
            params=Params.from_kwargs(params),
            metadata=metadata,
            stream=stream,
        )

    def _call_metadata(self, params: dict[str, Any]) -> Metadata:
        """The Metadata of a call that set some of the client's options, taken (popped)
        out of ``params`` and checked."""
        meta_fields = {k: params.pop(k) for k in _METADATA_KEYS if k in params}
        for name in _ATTEMPT_TIMERS:
            if name in meta_fields:
                meta_fields[name] = _attempt_timer(name, meta_fields[name])
        total_timeout = params.pop("total_timeout", None)
        if total_timeout is not None:
            if not isinstance(total_timeout, int | float) or not total_timeout > 0:
                raise ConfigError(
                    f"total_timeout must be a positive number of seconds, got {total_timeout!r}"
                )
            meta_fields.setdefault("deadline", self._clock.now() + total_timeout)
        for name in ("tags", "fallbacks"):
            if name in meta_fields:
                value = meta_fields[name]
                # one name alone is one item, not a tuple of its characters
                meta_fields[name] = (value,) if isinstance(value, str) else tuple(value)
        if "reasks" in meta_fields and meta_fields["reasks"] is not None:
            from sluicegate.structured.stage import check_reasks

            check_reasks(meta_fields["reasks"], "reasks")
        run_budget = meta_fields.get("budget")
        if run_budget is not None and not isinstance(run_budget, Budget):
            raise ConfigError(
                f"budget= must be a sluicegate.Budget (made once per run and shared by its "
                f"calls), got {type(run_budget).__name__}"
            )
        return Metadata(request_id=new_request_id(), **meta_fields)

    def _require_open(self) -> CallNext:
        handler = self._handler
        if handler is None:
            raise ConfigError(
                "the client is not open: use 'async with sluicegate.Client() as client:'"
            )
        return handler

    async def send(self, request: Request) -> Response:
        """Send a prepared plain Request through the chain."""
        handler = self._require_open()
        started = time.perf_counter()
        if self._observers.request_finished:
            return await self._send_observed(handler, request, started)
        reply = await handler(request)
        if isinstance(reply, EventStream):
            await _refuse_stream(reply)
        return reply.replace(latency=time.perf_counter() - started)

    async def _send_observed(self, handler: CallNext, request: Request, started: float) -> Response:
        """:meth:`send` telling the observers how the request ended, answered or not."""
        try:
            reply = await handler(request)
            if isinstance(reply, EventStream):
                await _refuse_stream(reply)
        except BaseException as exc:
            latency = time.perf_counter() - started
            self._observers.emit_request_finished(RequestFinished(request, None, exc, latency))
            raise
        response = reply.replace(latency=time.perf_counter() - started)
        self._observers.emit_request_finished(
            RequestFinished(request, response, None, response.latency)
        )
        return response

    def request(self, model: str, messages: MessagesInput, **params: Any) -> Request:
        """Build the Request that ``chat(model, messages, **params)`` would send, without
        sending it: for :meth:`map`, and for sending later with :meth:`send`. Takes the
        same parameters and metadata (``caller_id``, ``idempotency_key``, ``tags``...)."""
        return self._request(model, messages, params, stream=False)

    async def chat(self, model: str, messages: MessagesInput, **params: Any) -> Response:
        """One chat completion. ``params``: temperature, max_tokens, tools... plus metadata
        (caller_id, tags, idempotency_key, headers) and provider-specific extras."""
        return await self.send(self._request(model, messages, params, stream=False))

    @asynccontextmanager
    async def stream(
        self, model: str, messages: MessagesInput, **params: Any
    ) -> AsyncIterator[ChatStream]:
        """A streamed chat completion; the HTTP response is closed when the block exits."""
        handler = self._require_open()
        request = self._request(model, messages, params, stream=True)
        events, end = await self._open_stream(handler, request)
        try:
            yield ChatStream(events)
        except BaseException as exc:
            if end is not None:  # the caller's block raised before the stream's end
                end.closed(exc)
            raise
        finally:
            if end is not None:  # (a no-op if the stream ended or failed first)
                end.closed()
            await events.aclose()

    async def open_stream(self, request: Request) -> EventStream:
        """Send a prepared streamed Request (``stream=True``) through the chain: the
        events, ending with Done, of a stream the caller must ``aclose()``. For code that
        cannot hold an ``async with`` block over the stream (an HTTP transport handing
        the stream to another library, as :func:`sluicegate.http_client` does);
        :meth:`stream` is the usual way. The observers hear how it ended once: Done, an
        error, or ``aclose()`` before either."""
        events, _ = await self._open_stream(self._require_open(), request)
        return events

    async def _open_stream(
        self, handler: CallNext, request: Request
    ) -> tuple[EventStream, StreamEnd | None]:
        """The chain's stream for ``request``, observed, and what tells the observers
        (None when nobody listens)."""
        started = time.perf_counter()
        end = (
            StreamEnd(self._observers, request, started)
            if self._observers.request_finished
            else None
        )
        try:
            reply = expect_stream(await handler(request), request.model)
        except BaseException as exc:
            if end is not None:
                end.failed(exc)
            raise
        if end is None:
            events = reply.observe(
                on_close=lambda response, _: (
                    None
                    if response is None
                    else response.replace(latency=time.perf_counter() - started)
                )
            )
        else:
            events = reply.observe(on_close=end.ended)
        return events, end

    async def fan_out(
        self, messages: MessagesInput, models: Sequence[str], **params: Any
    ) -> list[FanOutResult]:
        """Ask every model the same thing at once; one result per model, in ``models``'
        order, each a response or the error, so one failing model loses nobody's answer."""
        self._require_open()
        results: list[FanOutResult | None] = [None] * len(models)

        async def ask(index: int, model: str) -> None:
            started = time.perf_counter()
            try:
                call_params = dict(params)
                key = call_params.get("idempotency_key")
                if key and len(models) > 1:
                    # one logical request per model: each gets its own key
                    call_params["idempotency_key"] = key_for_model(key, model)
                response = await self.chat(model, messages, **call_params)
            except Exception as exc:
                results[index] = FanOutResult(model, None, exc, time.perf_counter() - started)
            else:
                results[index] = FanOutResult(model, response, None, response.latency)

        async with anyio.create_task_group() as group:
            for index, model in enumerate(models):
                group.start_soon(ask, index, model)
        return [r for r in results if r is not None]

    def map(
        self,
        requests: RequestSource,
        *,
        concurrency: int | None = None,
        patience: float | None = DEFAULT_PATIENCE_S,
        availability: ModelAvailability | None = None,
    ) -> BulkMap:
        """Send many requests, at most ``concurrency`` at once (default: the client's), and
        yield each outcome as it completes, tagged with its request (and so its
        ``caller_id``), holding the Response or the error::

            async with client.map(requests, concurrency=32) as results:
                async for result in results:
                    print(result.caller_id, result.response or result.error)

        ``requests`` (Requests from :meth:`request`, an iterable or async iterable) is read
        lazily and nothing is kept after it is yielded, so memory does not grow with the
        input. Leaving the block cancels what is still in flight. Why it is a block and not
        a bare ``async for``: see :mod:`sluicegate.bulk.map`.

        A request that fails for a transient cause (an open circuit, a 429, a 5xx, a
        timeout) is held and sent again when its model's pause ends or after a backoff,
        while other models' requests keep flowing. ``patience`` (seconds; None: forever)
        bounds how long a model that answers nothing is waited for; then (or at once, for
        a requested wait beyond it) its requests are yielded with ``pending=True`` and a
        :class:`~sluicegate.bulk.ModelUnavailableError`. A request that keeps failing
        while its model answers others is yielded pending after three such rounds.
        ``availability`` shares one :class:`~sluicegate.bulk.ModelAvailability` (its own
        patience) between maps, as ``sluicegate run`` does across its passes.
        """
        from sluicegate.bulk.availability import ModelAvailability
        from sluicegate.bulk.map import BulkMap

        self._require_open()
        if availability is None:
            availability = ModelAvailability(self._clock, patience=patience, rng=self._rng)
        elif patience != DEFAULT_PATIENCE_S and patience != availability.patience:
            raise ConfigError(
                "give map patience= or availability= (which has its own patience), not both"
            )
        return BulkMap(
            self.send,
            requests,
            self._concurrency if concurrency is None else concurrency,
            availability=availability,
        )


async def _refuse_stream(reply: EventStream) -> NoReturn:
    await reply.aclose()
    raise ConfigError("send() takes plain requests; use stream() for streamed ones")


def _file_default(
    given: float | None, default: float | None, defaults: Mapping[str, float | int | None], key: str
) -> float | None:
    """The config file's value for ``key`` where the argument is still its default; an
    argument the caller gave (any other value) wins."""
    if given == default and key in defaults:
        return defaults[key]
    return given


def _config_from_setting(config: str | os.PathLike[str] | Config | None) -> Config | None:
    """The config file given, else the one ``SLUICEGATE_CONFIG`` names (empty: none)."""
    if isinstance(config, Config):
        return config
    if config is None:
        config = os.environ.get(CONFIG_ENV) or None
        if config is None:
            return None
    return load_config(config)


def _user_prices(
    prices: str | os.PathLike[str] | Sequence[ModelPrice] | None,
) -> tuple[ModelPrice, ...]:
    """The user's prices: a file (given, or named by SLUICEGATE_PRICES) or ModelPrices."""
    from sluicegate.cost.price_file import PRICES_ENV, load_price_file

    if prices is None:
        path = os.environ.get(PRICES_ENV)
        return tuple(load_price_file(path)) if path else ()
    if isinstance(prices, str | os.PathLike):
        return tuple(load_price_file(prices))
    items = tuple(prices)
    bad = [p for p in items if not isinstance(p, ModelPrice)]
    if bad:
        raise ConfigError(
            f"prices= takes a price file path or ModelPrice values, got {type(bad[0]).__name__}"
        )
    return items


def _as_budget(value: float | Budget | None, name: str) -> Budget | None:
    if value is None or isinstance(value, Budget):
        return value
    return Budget(value, name=name)


def _tag_budget(tag: str, value: float | Budget) -> Budget:
    budget = _as_budget(value, f"tag {tag}")
    if budget is None:
        raise ConfigError(f"tag_budgets[{tag!r}] must be USD or a Budget, got None")
    return budget
