"""Model prices: the value type, and the table a client looks prices up in.

Prices are in USD per million tokens. An unknown price is None ("unknown"), never 0: a
zero would silently report a paid run as free.

Where prices come from, later sources overriding earlier ones for the same model:

1. every plugin's ``sluicegate_price_lists`` and ``sluicegate_prices`` hooks (the
   built-in plugin contributes the dated :class:`PriceList` of each provider in
   :mod:`sluicegate.cost.tables`, the Anthropic plugin its Claude models);
2. the user's price file (``Client(prices="prices.toml")`` or ``SLUICEGATE_PRICES``,
   read by :mod:`sluicegate.cost.price_file`) or a list of :class:`ModelPrice`.

The table is built once per client, when it is opened; a lookup then is one dict read
(misses, dated snapshots and models priced by their well-known name are remembered too),
so pricing costs nothing per request that could have been done at build time.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from sluicegate.errors import ConfigError

__all__ = [
    "MAX_PRICE_PER_MTOK",
    "ModelPrice",
    "PriceList",
    "PriceTable",
    "base_model_name",
    "well_known_name",
]

MAX_PRICE_PER_MTOK: Final = 1_000_000
"""The dearest price accepted, in USD per million tokens (a dollar a token, thousands of
times any real model's): a price above it is a typo, and bounding it bounds every cost (at
most 2**53 tokens of each kind, :data:`sluicegate.providers.checks.MAX_TOKEN_COUNT`) to a
finite float, where 1.7e308 once overflowed when a request was priced."""


def price_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a price per million tokens, or None if nothing."""
    if not _is_number(value):
        return f"must be a number (USD per million tokens), got {value!r}"
    assert isinstance(value, int | float)
    if not (math.isfinite(value) and 0 <= value <= MAX_PRICE_PER_MTOK):
        return (
            f"must be a number >= 0 and at most {MAX_PRICE_PER_MTOK:,} (USD per million "
            f"tokens), "
            f"got {value!r}"
        )
    return None


_PRICE_FIELDS = (
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """What one model costs, in USD per million tokens. ``model`` is ``"provider/model"``.

    ``cached_input_per_mtok`` prices input read from the provider's prompt cache and
    ``cache_write_per_mtok`` input written to it (Anthropic bills writes at 1.25x input);
    None prices those tokens as plain input. ``batch_discount`` is the fraction taken off
    when the request runs through the provider's batch API (0.5: half price).
    ``source`` says where the price came from (``"builtin openai 2026-12-02"``,
    ``"plugin NAME"``, ``"file PATH"``), shown by ``sluicegate prices``.
    ``well_known`` lends the price to the same model served by another provider (a relay
    or any OpenAI-compatible endpoint, see :meth:`PriceTable.lookup`); the mock
    provider's made-up prices set it False so that no real model borrows them.
    """

    model: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    batch_discount: float = 0.5
    source: str = ""
    cache_write_per_mtok: float | None = None
    well_known: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or "/" not in self.model:
            raise ConfigError(
                f"price for {self.model!r}: model must be named 'provider/model', "
                "e.g. 'openai/gpt-4o-mini'"
            )
        for name in _PRICE_FIELDS:
            value = getattr(self, name)
            if value is None and name in ("cached_input_per_mtok", "cache_write_per_mtok"):
                continue
            problem = price_problem(value)
            if problem is not None:
                raise ConfigError(f"price for {self.model!r}: {name} {problem}")
        discount = self.batch_discount
        if not _is_number(discount) or not 0 <= discount <= 1:
            raise ConfigError(
                f"price for {self.model!r}: batch_discount must be a fraction from 0 to 1 "
                f"(0.5 = half price), got {discount!r}"
            )
        if not isinstance(self.well_known, bool):
            raise ConfigError(
                f"price for {self.model!r}: well_known must be True or False, "
                f"got {self.well_known!r}"
            )

    @property
    def cached_input(self) -> float:
        """The price of a cached input token (the input price when none is set)."""
        cached = self.cached_input_per_mtok
        return self.input_per_mtok if cached is None else cached

    @property
    def cache_write(self) -> float:
        """The price of an input token written to the cache (input price when unset)."""
        write = self.cache_write_per_mtok
        return self.input_per_mtok if write is None else write

    @property
    def rates(self) -> tuple[float, float, float, float, float]:
        """``(input, cached input, cache write, output, batch discount)`` as charged: two
        prices with equal rates cost the same for any usage, whatever their names."""
        return (
            self.input_per_mtok,
            self.cached_input,
            self.cache_write,
            self.output_per_mtok,
            self.batch_discount,
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_SNAPSHOT_SUFFIX: Final = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$")
"""A dated snapshot (``-2024-07-18`` as OpenAI dates them, ``-20250929`` as Anthropic
does) or a ``-latest`` alias at the end of a model name."""


def base_model_name(model: str) -> str | None:
    """``model`` without its snapshot date or ``-latest`` suffix, or None when it has
    neither: ``openai/gpt-4o-mini-2024-07-18`` → ``openai/gpt-4o-mini``."""
    base = _SNAPSHOT_SUFFIX.sub("", model)
    return base if base != model else None


def well_known_name(model: str) -> str:
    """The name a model goes by whoever serves it, for matching it across providers.

    The part after the last ``/`` (after the provider, and after a vendor prefix as
    OpenRouter-style relays send it: ``openai/anthropic/claude-sonnet-4.5``), lower-case,
    with ``.`` and ``_`` written ``-`` (a relay's ``claude-sonnet-4.5`` is Anthropic's
    ``claude-sonnet-4-5``), without a snapshot date or ``-latest``. Nothing else is
    dropped, so ``gpt-4.1`` (``gpt-4-1``) never meets ``gpt-4.1-mini`` (``gpt-4-1-mini``)
    and ``gemini-2.5-flash`` never meets ``gemini-2.5-flash-lite``.

    >>> well_known_name("openai/anthropic/Claude-Sonnet-4.5")
    'claude-sonnet-4-5'
    >>> well_known_name("anthropic/claude-sonnet-4-5-20250929")
    'claude-sonnet-4-5'
    """
    name = model.rpartition("/")[2].lower().replace(".", "-").replace("_", "-")
    return _SNAPSHOT_SUFFIX.sub("", name)


@dataclass(frozen=True, slots=True)
class PriceList:
    """One provider's prices as published on a given day, and where they were read.

    What a plugin registers through the ``sluicegate_price_lists`` hook (the built-in
    plugin's lists are in :mod:`sluicegate.cost.tables`); ``sluicegate prices`` shows each
    list's provider, date and sources above the prices. ``provider`` names the provider
    whose pricing page the prices come from (``"google"``), ``as_of`` is the ISO date they
    were checked on (``"2026-12-02"``), ``sources`` are the pages (URLs) they were read
    from, ``note`` is one line a reader should know (a tier left out, a price that could
    not be confirmed). Every price in the list is a :class:`ModelPrice` whose ``source``
    should name the list (``"builtin openai 2026-12-02"``).
    """

    provider: str
    as_of: str
    sources: tuple[str, ...]
    prices: tuple[ModelPrice, ...]
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.provider, str) or not self.provider:
            raise ConfigError(f"price list: provider must be a name, got {self.provider!r}")
        where = f"price list {self.provider!r}"
        try:
            datetime.date.fromisoformat(self.as_of)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{where}: as_of must be an ISO date (YYYY-MM-DD), got {self.as_of!r}"
            ) from None
        if isinstance(self.sources, str) or not all(isinstance(s, str) for s in self.sources):
            raise ConfigError(f"{where}: sources must be a sequence of URLs (strings)")
        object.__setattr__(self, "sources", tuple(self.sources))
        if not all(isinstance(p, ModelPrice) for p in self.prices):
            raise ConfigError(f"{where}: prices must be ModelPrice objects")
        object.__setattr__(self, "prices", tuple(self.prices))
        if not isinstance(self.note, str):
            raise ConfigError(f"{where}: note must be a string, got {self.note!r}")


_MAX_REMEMBERED = 4096
"""Lookups remembered (hits and misses): far more than the models one client calls, and
a bound so that a caller inventing model names cannot grow the cache without end."""


class PriceTable:
    """The prices a client knows, by ``"provider/model"``; later entries win.

    :meth:`lookup` finds a model's price by, in order:

    1. its exact name, ``provider/model``;
    2. its base name when it is a dated snapshot or a ``-latest`` alias
       (``openai/gpt-4o-mini-2024-07-18`` is priced as ``openai/gpt-4o-mini``);
    3. its **well-known name** (:func:`well_known_name`), matched against the well-known
       names of every price in the table, bundled or the user's: a relay, or any
       OpenAI-compatible endpoint, serving a model under a name its maker uses is priced
       as that model (``openai/claude-sonnet-4.5`` through a relay costs what
       ``anthropic/claude-sonnet-4-5`` costs). The price found says so in its ``source``
       (``"plugin sluicegate-gemini 2026-12-02, priced as gemini/gemini-2.5-flash"``). When the name
       matches several prices that differ, the model stays unknown: it is never guessed.
       A price with ``well_known=False`` (the mock provider's made-up ones) is never lent.

    A price the user gives for the exact name (a price file entry for
    ``openai/claude-sonnet-4.5``) comes first, so the relay rule is overridden per model.
    """

    __slots__ = ("_by_model", "_resolved", "_well_known")

    def __init__(self, prices: Iterable[ModelPrice] = ()) -> None:
        by_model: dict[str, ModelPrice] = {}
        for price in prices:
            by_model[price.model] = price
        self._by_model: Mapping[str, ModelPrice] = by_model
        self._resolved: dict[str, ModelPrice | None] = dict(by_model)
        self._well_known = _well_known_index(by_model.values())

    @classmethod
    def from_contributions(
        cls, contributions: Iterable[tuple[str, Iterable[ModelPrice]]], *overrides: ModelPrice
    ) -> PriceTable:
        """A table from ``(plugin name, prices)`` pairs in registration order, then the
        user's ``overrides``. A price without a source is credited to its plugin."""
        merged: list[ModelPrice] = []
        for plugin, prices in contributions:
            label = "builtin" if plugin == "sluicegate.builtin" else f"plugin {plugin}"
            for price in prices:
                merged.append(price if price.source else _with_source(price, label))
        merged.extend(overrides)
        return cls(merged)

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (``"provider/model"``), or None when it is unknown. A
        known model costs one dict read; every other answer is remembered too."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        price = self._resolve(model)
        if len(self._resolved) < _MAX_REMEMBERED:
            self._resolved[model] = price
        return price

    def _resolve(self, model: str) -> ModelPrice | None:
        base = base_model_name(model)
        if base is not None:
            price = self._by_model.get(base)
            if price is not None:
                return price
        name = well_known_name(model)
        match = self._well_known.get(name) if name else None
        if match is None:
            return None
        said = f"priced as {match.model}"
        return _with_source(match, f"{match.source}, {said}" if match.source else said)

    def entries(self) -> list[ModelPrice]:
        """Every price in the table, sorted by model."""
        return sorted(self._by_model.values(), key=lambda p: p.model)

    def __len__(self) -> int:
        return len(self._by_model)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.lookup(model) is not None

    def __repr__(self) -> str:
        return f"<PriceTable {len(self._by_model)} models>"


def _well_known_index(prices: Iterable[ModelPrice]) -> dict[str, ModelPrice]:
    """Each well-known name that exactly one price (by its rates) answers to, with that
    price (the first by model name when several entries have equal rates). A name that
    prices which differ answer to is left out: such a model stays unknown."""
    found: dict[str, list[ModelPrice]] = {}
    for price in sorted(prices, key=lambda p: p.model):
        if price.well_known:
            name = well_known_name(price.model)
            if name:
                found.setdefault(name, []).append(price)
    return {
        name: candidates[0]
        for name, candidates in found.items()
        if len({p.rates for p in candidates}) == 1
    }


def _with_source(price: ModelPrice, source: str) -> ModelPrice:
    return dataclasses.replace(price, source=source)
