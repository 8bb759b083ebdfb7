"""Loading plugins and collecting what each one contributes.

Plugins come from the built-in module, from the ``sluicegate`` entry-point group, and from
objects registered at run time. Each is loaded and asked on its own, so one that fails to
import or raises in a hook is reported by name (a :class:`PluginError`, logged once) and
the others still work. ``SLUICEGATE_DISABLE_PLUGINS=name,name`` skips plugins by name.
An entry point that resolves to None is skipped without a word: that is how an optional
extra's plugin (``sluicegate[otel]``) stays out when the extra is not installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from sluicegate.chain import MiddlewareSpec
from sluicegate.cost.prices import ModelPrice, PriceList
from sluicegate.errors import PluginError
from sluicegate.logs import get_logger
from sluicegate.plugins import builtin, hookspecs
from sluicegate.providers.base import ProviderSpec

if TYPE_CHECKING:
    from sluicegate.batch.api import BatchApiSpec

ENTRY_POINT_GROUP = "sluicegate"
DISABLE_ENV = "SLUICEGATE_DISABLE_PLUGINS"
BUILTIN_NAME = "sluicegate.builtin"
"""The built-in plugin's registered name (shown by `sluicegate plugins`), kept from before
its module moved to :mod:`sluicegate.plugins.builtin`."""


def disabled_plugins() -> frozenset[str]:
    """Plugin names listed in ``SLUICEGATE_DISABLE_PLUGINS`` (comma or space separated)."""
    raw = os.environ.get(DISABLE_ENV, "")
    return frozenset(n.strip() for n in raw.replace(",", " ").split() if n.strip())


@dataclass(slots=True)
class Contribution:
    """What one plugin added."""

    plugin: str
    providers: list[ProviderSpec] = field(default_factory=list)
    middleware: list[MiddlewareSpec] = field(default_factory=list)
    prices: list[ModelPrice] = field(default_factory=list)
    """Every price, its lists' first (in list order), then its ``sluicegate_prices``."""
    batch_apis: list[BatchApiSpec] = field(default_factory=list)
    price_lists: list[PriceList] = field(default_factory=list)


@dataclass(slots=True)
class PluginRegistry:
    """Everything the loaded plugins contributed, in registration order."""

    contributions: list[Contribution]
    errors: list[PluginError]

    @property
    def providers(self) -> list[ProviderSpec]:
        return [p for c in self.contributions for p in c.providers]

    @property
    def middleware(self) -> list[MiddlewareSpec]:
        return [m for c in self.contributions for m in c.middleware]

    @property
    def prices(self) -> list[ModelPrice]:
        return [p for c in self.contributions for p in c.prices]

    @property
    def batch_apis(self) -> list[BatchApiSpec]:
        return [b for c in self.contributions for b in c.batch_apis]

    @property
    def price_lists(self) -> list[tuple[str, PriceList]]:
        """``(plugin name, list)`` for every dated price list, in registration order."""
        return [(c.plugin, p) for c in self.contributions for p in c.price_lists]


def make_plugin_manager(
    *, load_entry_points: bool = True, plugins: Iterable[Any] = ()
) -> tuple[pluggy.PluginManager, list[PluginError]]:
    """A plugin manager with the built-in plugin, the installed plugins and ``plugins``."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    errors: list[PluginError] = []
    disabled = disabled_plugins()
    pm.register(builtin, name=BUILTIN_NAME)
    if load_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in disabled:
                continue
            try:
                plugin = ep.load()
                if plugin is None:  # an extra's plugin whose extra is not installed
                    continue
                pm.register(plugin, name=ep.name)
            except Exception as exc:
                errors.append(PluginError(ep.name, f"{type(exc).__name__}: {exc}"))
    for plugin in plugins:
        register_runtime_plugin(pm, plugin, errors)
    return pm, errors


def register_runtime_plugin(
    pm: pluggy.PluginManager, plugin: Any, errors: list[PluginError]
) -> str:
    """Register an object (module or instance with hook implementations) at run time."""
    name = getattr(plugin, "name", None) or getattr(plugin, "__name__", None)
    name = str(name or f"runtime-{id(plugin):x}")
    if pm.is_registered(plugin):
        return name
    try:
        pm.register(plugin, name=name)
    except Exception as exc:
        errors.append(PluginError(name, f"{type(exc).__name__}: {exc}"))
    return name


def collect(pm: pluggy.PluginManager, errors: Sequence[PluginError] = ()) -> PluginRegistry:
    """Ask every plugin's hooks once, plugin by plugin, so a failing hook names its plugin."""
    from sluicegate.batch.api import BatchApiSpec  # (a client is being built)

    found: dict[str, Contribution] = {}
    problems = list(errors)

    def take(hook: Any, attr: str, kind: type) -> None:
        for impl in hook.get_hookimpls():
            contribution = found.setdefault(impl.plugin_name, Contribution(impl.plugin_name))
            try:
                items = list(impl.function() or ())
                bad = [i for i in items if not isinstance(i, kind)]
                if bad:
                    raise TypeError(
                        f"{hook.name} returned {type(bad[0]).__name__}, not {kind.__name__}"
                    )
            except Exception as exc:
                problems.append(PluginError(impl.plugin_name, f"{hook.name}: {exc}"))
                continue
            getattr(contribution, attr).extend(items)
            if attr == "price_lists":
                contribution.prices.extend(p for lst in items for p in lst.prices)

    take(pm.hook.sluicegate_providers, "providers", ProviderSpec)
    take(pm.hook.sluicegate_middleware, "middleware", MiddlewareSpec)
    take(pm.hook.sluicegate_price_lists, "price_lists", PriceList)
    take(pm.hook.sluicegate_prices, "prices", ModelPrice)
    take(pm.hook.sluicegate_batch_apis, "batch_apis", BatchApiSpec)
    for plugin_name, _ in pm.list_name_plugin():
        found.setdefault(plugin_name, Contribution(plugin_name))
    registry = PluginRegistry(list(found.values()), problems)
    if problems:
        log = get_logger()
        for problem in problems:
            log.warning("plugin.failed", plugin=problem.plugin, error=problem.message)
    return registry


def observer_functions(pm: pluggy.PluginManager, hook_name: str) -> list[Any]:
    """The implementations of an observer hook, in the order pluggy would call them."""
    hook = getattr(pm.hook, hook_name)
    return [impl.function for impl in reversed(hook.get_hookimpls())]
