"""How a client is told to share its state: :class:`RedisStore`, and reading the store
setting from ``Client(store=...)``, ``SLUICEGATE_STORE`` and ``--store``.

A ``RedisStore`` is a setting, not a connection: every client that is given one opens
its own connection when it is entered and closes it when it exits, in that same task
(coredis's pool lives in a task group, which must be left by the task that entered it).
So one ``RedisStore`` may be handed to many clients, in many processes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sluicegate.errors import ConfigError
from sluicegate.secrets import Secret

__all__ = ["ENV_STORE", "RedisStore", "store_from_setting"]

ENV_STORE = "SLUICEGATE_STORE"
"""The environment variable that names the store when ``Client(store=)`` is not given."""

_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True, slots=True)
class RedisStore:
    """Keep rate limits, circuits, budgets and idempotency records in one Redis (6 or
    later), shared by every process and machine that is given the same store.

    ``url``: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` for TLS or
    ``unix:///path/to/socket``. A password in it is treated as a secret: it is shown as
    ``***`` in every message and repr.

    ``fallback_processes``: what a process does while Redis does not answer. None (the
    default) fails closed: requests that need shared state fail with
    :class:`~sluicegate.stores.errors.StoreUnavailableError`, naming the store. A number
    N sends instead within a local share of each limit, the limit divided by N (the
    number of processes the user runs), never the full limit.

    ``lease_s``: how long a concurrency slot is held by a process that stopped renewing
    it (killed, frozen, cut off): a live process renews its slots every third of it.
    ``timeout_s``: how long one store call may take before the store counts as away.
    ``prefix``: the first part of every key, so that unrelated deployments can share one
    Redis database.
    """

    url: str
    fallback_processes: int | None = None
    lease_s: float = 10.0
    timeout_s: float = 1.0
    prefix: str = "sg"
    display: str = field(init=False, repr=False, compare=False)
    """The URL as messages show it: any password replaced by ``***``."""

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise ConfigError(f"store: a Redis URL is needed, got {self.url!r}")
        parts = urlsplit(self.url)
        if parts.scheme not in _SCHEMES:
            shown = parts.scheme or "(none)"
            raise ConfigError(
                f"store: unsupported URL scheme {shown!r}; use redis://host:port/db, "
                "rediss:// for TLS, or unix:///path/to/socket"
            )
        if parts.scheme != "unix" and not parts.hostname:
            raise ConfigError(f"store: the URL {_redacted(self.url)} names no host")
        if parts.password:
            Secret(parts.password)  # remembered, so scrub() blanks it in any text
        object.__setattr__(self, "display", _redacted(self.url))
        n = self.fallback_processes
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ConfigError(
                f"store: fallback_processes must be a whole number >= 1 (the processes "
                f"that share the limits), got {n!r}"
            )
        for name in ("lease_s", "timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (
                isinstance(value, int | float) and math.isfinite(value) and value > 0
            ):
                raise ConfigError(f"store: {name} must be a number of seconds > 0, got {value!r}")
        if not isinstance(self.prefix, str) or not self.prefix or "{" in self.prefix:
            raise ConfigError(
                f"store: prefix must be a non-empty string without '{{', got {self.prefix!r}"
            )

    def __repr__(self) -> str:
        extra = (
            f", fallback_processes={self.fallback_processes}"
            if self.fallback_processes is not None
            else ""
        )
        return f"RedisStore({self.display!r}{extra})"

    __str__ = __repr__


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def store_from_setting(
    value: Any, environ: os._Environ[str] | dict[str, str] | None = None
) -> RedisStore | None:
    """The store a client uses: ``store=`` as given (a URL or a :class:`RedisStore`), else
    ``SLUICEGATE_STORE``; ``"memory"`` (or an empty variable) keeps state in the process,
    as does None with no variable set."""
    if value is None:
        env = os.environ if environ is None else environ
        value = env.get(ENV_STORE) or None
        if value is None:
            return None
    if isinstance(value, RedisStore):
        return value
    if isinstance(value, str):
        if value == "memory":
            return None
        return RedisStore(value)
    raise ConfigError(
        f"store: give a Redis URL ('redis://host:6379/0'), a RedisStore or 'memory', got "
        f"{type(value).__name__}"
    )
