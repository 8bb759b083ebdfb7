"""``sluicegate.toml``: the providers a user calls, their limits and the prices they pay,
and the client's defaults, in one file.

::

    # sluicegate.toml
    [providers.relay]                 # models named relay/<model>
    kind = "openai"                   # the wire format: any registered provider kind
    base_url = "https://relay.example.com/v1"
    api_key_env = "RELAY_API_KEY"     # the environment variable holding its key
    headers = { "X-Title" = "reviews" }

    [providers.local]
    kind = "openai"
    base_url = "http://127.0.0.1:8000/v1"   # a vLLM server: no key

    [aliases]
    fast = "relay/gpt-4.1-mini"

    [limits."relay/*"]                # a rate limit, as Limit("relay/*", rpm=3000)
    rpm = 3000

    [defaults]                        # the client's defaults; its arguments win
    concurrency = 32
    total_timeout = 300
    attempts = 5

    [prices."local/llama-3.1-8b"]     # USD per million tokens, as in a price file
    input = 0.0
    output = 0.0

Why a file: the command line can name one OpenAI-compatible endpoint (``OPENAI_BASE_URL``),
and users compare a relay, a local server and a provider's own API in one command. The
key itself is never in the file, only the name of the variable that holds it, so the
file can be committed.

Every key is checked, and every mistake (TOML that does not parse, an unknown key, a
value of the wrong type, a key variable that is not set) is a
:class:`~sluicegate.errors.BadInputError` naming the file, the line and the key: a typo
never passes as a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sluicegate.config.locate import KeyLines
from sluicegate.cost.price_file import price_entry
from sluicegate.cost.prices import ModelPrice
from sluicegate.errors import BadInputError, ConfigError
from sluicegate.limits.config import Limit
from sluicegate.providers.base import ProviderSettings
from sluicegate.secrets import Secret
from sluicegate.toml_file import read_toml

__all__ = ["Config", "ConfiguredProvider", "load_config"]

SECTIONS: Final = ("providers", "aliases", "limits", "defaults", "prices")
LIMIT_FIELDS: Final = ("rpm", "tpm", "input_tpm", "output_tpm", "concurrency", "burst_s")
DEFAULT_FIELDS: Final = ("concurrency", "timeout", "connect_timeout", "total_timeout", "attempts")
PROVIDER_FIELDS: Final = ("kind", "base_url", "api_key_env", "headers")
_PROVIDER_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class ConfiguredProvider:
    """One ``[providers.NAME]`` table, checked."""

    name: str
    kind: str
    base_url: str | None = None
    api_key_env: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded config file: its providers and prices, and where each key was written
    (for the errors found later, when a key variable is read)."""

    path: str
    providers: Mapping[str, ConfiguredProvider]
    prices: tuple[ModelPrice, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Short names for models: ``fast = "relay/gpt-4.1-mini"``."""
    limits: tuple[Limit, ...] = ()
    """``[limits."openai/*"]`` tables, as the rate-limit stage's rules."""
    defaults: Mapping[str, float | int | None] = field(default_factory=dict)
    """Client defaults: concurrency, timeout, connect_timeout, total_timeout (None: no
    limit, written 0), attempts."""
    _lines: KeyLines | None = field(default=None, repr=False, compare=False)

    def provider_settings(
        self, environ: Mapping[str, str] | None = None
    ) -> dict[str, ProviderSettings]:
        """The providers as :class:`ProviderSettings`, each key read from its variable
        now; a variable that is not set is an error naming the file, line and key."""
        env = os.environ if environ is None else environ
        settings: dict[str, ProviderSettings] = {}
        for name, provider in self.providers.items():
            key: Secret | None = None
            if provider.api_key_env is not None:
                value = env.get(provider.api_key_env)
                if not value:
                    raise self.error(
                        f"the environment variable {provider.api_key_env}, which holds "
                        f"the key of provider {name!r}, is not set",
                        ("providers", name, "api_key_env"),
                    )
                key = Secret(value)
            settings[name] = ProviderSettings(
                base_url=provider.base_url,
                api_key=key,
                kind=provider.kind,
                headers=dict(provider.headers),
            )
        return settings

    def error(self, message: str, path: tuple[str, ...]) -> BadInputError:
        """A mistake found after loading (a key variable unset, an unknown provider
        kind), placed at ``path``'s line."""
        return _Checker(self.path, self._lines or KeyLines("")).error(message, path)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check a config file (see the module docstring)."""
    file, text, data = read_toml(path, "config file")
    lines = KeyLines(text)
    check = _Checker(file, lines)
    for section in data:
        if section not in SECTIONS:
            raise check.error(f"unknown section (known: {', '.join(SECTIONS)})", (section,))
    providers = {
        name: check.provider(name, entry)
        for name, entry in check.table(data.get("providers", {}), ("providers",)).items()
    }
    prices = tuple(
        price_entry(
            file,
            lines.line(("prices", model)),
            f'prices."{model}"',
            model,
            entry,
            f"config {file}",
        )
        for model, entry in check.table(data.get("prices", {}), ("prices",)).items()
    )
    aliases = {
        alias: check.model_name(target, ("aliases", alias))
        for alias, target in check.table(data.get("aliases", {}), ("aliases",)).items()
    }
    limits = tuple(
        check.limit(scope, entry)
        for scope, entry in check.table(data.get("limits", {}), ("limits",)).items()
    )
    defaults = check.defaults(check.table(data.get("defaults", {}), ("defaults",)))
    return Config(
        path=file,
        providers=providers,
        prices=prices,
        aliases=aliases,
        limits=limits,
        defaults=defaults,
        _lines=lines,
    )


class _Checker:
    """The checks of one file, each error placed by its key."""

    def __init__(self, file: str, lines: KeyLines) -> None:
        self.file = file
        self.lines = lines

    def error(self, message: str, path: tuple[str, ...]) -> BadInputError:
        dotted = ".".join(path)
        return BadInputError(
            f"{dotted}: {message}", file=self.file, line=self.lines.line(path), field=dotted
        )

    def table(self, value: Any, path: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(f"must be a table, got {_toml_type(value)}", path)
        return value

    def string(self, value: Any, path: tuple[str, ...]) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(f"must be a non-empty string, got {_toml_type(value)}", path)
        return value

    def model_name(self, value: Any, path: tuple[str, ...]) -> str:
        name = self.string(value, path)
        if "/" not in name.strip("/"):
            raise self.error(f"must name a model as provider/model, got {name!r}", path)
        return name

    def limit(self, scope: str, entry: Any) -> Limit:
        path = ("limits", scope)
        entry = self.table(entry, path)
        for key, value in entry.items():
            if key not in LIMIT_FIELDS:
                raise self.error(f"unknown key (known: {', '.join(LIMIT_FIELDS)})", (*path, key))
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.error(f"must be a number, got {_toml_type(value)}", (*path, key))
            if key != "burst_s" and not isinstance(value, int):
                raise self.error(f"must be a whole number, got {value!r}", (*path, key))
        try:
            return Limit(scope, **entry)
        except ConfigError as exc:  # a scope Limit refuses, a value <= 0, no field
            raise self.error(exc.message, path) from None

    def defaults(self, entry: Mapping[str, Any]) -> dict[str, float | int | None]:
        checked: dict[str, float | int | None] = {}
        for key, value in entry.items():
            path = ("defaults", key)
            if key not in DEFAULT_FIELDS:
                raise self.error(f"unknown key (known: {', '.join(DEFAULT_FIELDS)})", path)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.error(f"must be a number, got {_toml_type(value)}", path)
            if key in ("concurrency", "attempts"):
                if not isinstance(value, int) or value < 1:
                    raise self.error(f"must be a whole number >= 1, got {value!r}", path)
                checked[key] = value
            elif key == "total_timeout" and value == 0:
                checked[key] = None  # 0: no limit in all, as --total-timeout 0
            elif not value > 0:
                raise self.error(f"must be a number of seconds > 0, got {value!r}", path)
            else:
                checked[key] = float(value)
        return checked

    def provider(self, name: str, entry: Any) -> ConfiguredProvider:
        path = ("providers", name)
        if not _PROVIDER_NAME.match(name):
            raise self.error(
                "a provider name is lower-case letters, digits, '-' and '_' (it is the "
                "part before the '/' of a model name)",
                path,
            )
        entry = self.table(entry, path)
        for key in entry:
            if key not in PROVIDER_FIELDS:
                raise self.error(f"unknown key (known: {', '.join(PROVIDER_FIELDS)})", (*path, key))
        kind = self.string(entry.get("kind", name), (*path, "kind"))
        base_url = None
        if "base_url" in entry:
            base_url = self.string(entry["base_url"], (*path, "base_url"))
            if not base_url.startswith(("http://", "https://")):
                raise self.error(
                    f"must be an http:// or https:// URL, got {base_url!r}", (*path, "base_url")
                )
        api_key_env = None
        if "api_key_env" in entry:
            api_key_env = self.string(entry["api_key_env"], (*path, "api_key_env"))
            if not _ENV_NAME.match(api_key_env):
                raise self.error(
                    f"must name an environment variable (the key itself never goes in "
                    f"the file), got {api_key_env!r}",
                    (*path, "api_key_env"),
                )
        headers: dict[str, str] = {}
        if "headers" in entry:
            for header, value in self.table(entry["headers"], (*path, "headers")).items():
                headers[header] = self.string(value, (*path, "headers", header))
        line = self.lines.line(path)
        return ConfiguredProvider(name, kind, base_url, api_key_env, headers, line)


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__
