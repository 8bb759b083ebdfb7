"""Building a client's middleware stages, and keeping them when its chain is built again.

``Client.register_plugin`` composes an open client's chain anew, so that what the plugin
adds takes its place. The stages the plugin does not replace must not start over: an open
circuit, the rate limiter's buckets and Retry-After holds, the retry budget and the
idempotency store are what keep a failing provider from being hammered, and a plugin
registered mid-run (an observer, a provider, a stage of its own) says nothing about them.

So each stage is kept with what it was built from: its spec, and the settings entries its
factory read (recorded while it ran). On the next build it is reused while its spec is
equal and each of those entries is the same object; a spec of the same name that differs
(a plugin replacing the stage) or an entry that changed (new prices reach the cost stage as
a new ``settings["accounting"]``) builds it anew. A factory that returned None kept nothing
and is asked again. The context's ``providers`` and ``observers`` are the client's own
objects, updated in place, so they are not part of what a stage was built from: a kept
stage that looks providers up when it needs them serves a provider added after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sluicegate.chain import ChainContext, Middleware, MiddlewareSpec
from sluicegate.errors import ConfigError, SluicegateError

_ABSENT: Any = object()
"""What a settings entry that was looked up and not found is recorded as."""


class _RecordedSettings(Mapping[str, Any]):
    """A factory's view of ``ChainContext.settings`` that notes every entry it reads."""

    __slots__ = ("_settings", "read")

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = settings
        self.read: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        value = self._settings.get(key, _ABSENT)
        self.read[key] = value
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        # a factory that walks the settings may depend on any entry
        for key, value in self._settings.items():
            self.read[key] = value
        return iter(self._settings)

    def __len__(self) -> int:
        return len(self._settings)


@dataclass(frozen=True, slots=True)
class _Kept:
    """A built stage and what it was built from."""

    spec: MiddlewareSpec
    read: Mapping[str, Any]
    middleware: Middleware

    def fits(self, spec: MiddlewareSpec, settings: Mapping[str, Any]) -> bool:
        """Whether building ``spec`` with ``settings`` would start from the same inputs."""
        return spec == self.spec and all(
            settings.get(key, _ABSENT) is value for key, value in self.read.items()
        )


class StageBuilder:
    """Builds the stages of one client's chain, reusing those whose inputs did not change
    since the previous build (see the module's docstring)."""

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[str, _Kept] = {}

    def build(
        self, specs: Sequence[MiddlewareSpec], context: ChainContext
    ) -> list[tuple[str, Middleware]]:
        """The stages of ``specs`` (ordered, disabled ones left out), as (name, middleware),
        each reused or built; a stage whose factory returned None is left out. If a factory
        fails, what was kept before stays kept (the client keeps its previous chain)."""
        kept: dict[str, _Kept] = {}
        for spec in specs:
            entry = self._kept.get(spec.name)
            if entry is None or not entry.fits(spec, context.settings):
                entry = _build(spec, context)
            if entry is not None:
                kept[spec.name] = entry
        self._kept = kept
        return [(name, entry.middleware) for name, entry in kept.items()]

    def forget(self) -> None:
        """Keep nothing: the next build makes every stage anew (a client opened again)."""
        self._kept = {}


def _build(spec: MiddlewareSpec, context: ChainContext) -> _Kept | None:
    settings = _RecordedSettings(context.settings)
    try:
        middleware = spec.factory(replace(context, settings=settings))
    except SluicegateError:
        raise
    except Exception as exc:
        raise ConfigError(f"middleware {spec.name!r} failed to build: {exc!r}") from exc
    if middleware is None:
        return None
    return _Kept(spec, dict(settings.read), middleware)
