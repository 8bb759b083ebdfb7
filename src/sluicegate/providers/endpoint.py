"""Where a provider is reached and with what key: resolved and checked once, at build.

A base URL or a key that cannot work is a configuration mistake, not a network failure:
left to the transport it came back as a retried ``TransportError`` (``ftp://``, no
scheme, port 99999), an untyped ``ValueError`` (``http://u:p@host`` on aiohttp, a key
with a line break in it) or a traceback (``http://[::1`` on httpx2). Checked here, every
provider (built-in or a plugin's; they are all bound through this module) fails when the
client is built, with a :class:`ConfigError` that names the provider and the setting (or
the environment variable it came from), before anything is sent, and never retried.
A key's value never appears in these messages; a URL's ``user:password@`` part neither.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sluicegate.errors import ConfigError
from sluicegate.secrets import Secret

if TYPE_CHECKING:
    from sluicegate.providers.base import ProviderSettings, ProviderSpec

_USERINFO = re.compile(r"(?<=//)[^/?#]*@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A provider's checked base URL and key (None: no key configured)."""

    base_url: str
    credential: Secret | None


def resolve_endpoint(name: str, spec: ProviderSpec, settings: ProviderSettings) -> Endpoint:
    """The base URL and key of provider ``name``: its settings first, then the environment
    variables its spec names (``OPENAI_BASE_URL``...), as the official SDKs do; for a
    compatible server added under a name of its own, ``NAME_BASE_URL``/``NAME_API_KEY``
    and no default URL. Raises ConfigError for a missing or unusable value."""
    own = name == spec.name
    env_prefix = _env_prefix(name)
    url_env = spec.base_url_env if own else f"{env_prefix}_BASE_URL"
    key_env = key_variable(name, spec)
    where = f"provider {name!r}"
    if settings.base_url:
        base_url, url_setting = settings.base_url, f"{where}: base_url"
    elif (from_env := _env(url_env)) is not None:
        base_url, url_setting = from_env, f"{where}: base_url (from {url_env})"
    elif own:
        base_url, url_setting = spec.default_base_url, f"{where}: default base_url"
    else:
        raise ConfigError(
            f"{where} (kind {spec.name!r}) needs a base URL: pass "
            f"ProviderSettings(base_url=...) or set {env_prefix}_BASE_URL"
        )
    key_hint = f"ProviderSettings(api_key=...) or {key_env}" if key_env else "api_key"
    check_base_url(base_url, setting=url_setting, key_hint=key_hint)
    key: str | Secret | None = settings.api_key
    key_setting = f"{where}: api_key"
    if not key:
        key = _env(key_env)
        key_setting = f"{where}: api_key (from {key_env})"
    if key is None:
        return Endpoint(base_url, None)
    credential = key if isinstance(key, Secret) else Secret(key)
    check_api_key(credential, setting=key_setting)
    return Endpoint(base_url, credential)


def key_variable(name: str, spec: ProviderSpec) -> str | None:
    """The environment variable provider ``name``'s key is read from: the spec's own
    (``OPENAI_API_KEY``) under the kind's own name, ``NAME_API_KEY`` for a compatible
    server added under a name of its own (``my-vllm`` -> ``MY_VLLM_API_KEY``), None when
    the spec reads none. The one statement of the rule: resolving the key and the auth
    stage's "no API key: set ..." both ask here, so the message names what is read."""
    if name == spec.name:
        return spec.api_key_env
    return f"{_env_prefix(name)}_API_KEY"


def _env_prefix(name: str) -> str:
    return name.upper().replace("-", "_")


def check_base_url(url: str, *, setting: str, key_hint: str = "api_key") -> None:
    """Refuse a base URL no transport can use: not http(s), no host, an invalid port,
    unparseable, whitespace or control characters in it, or credentials in it (a key
    belongs in ``api_key``: in a URL it would be logged and sent in the clear)."""
    shown = _USERINFO.sub("***@", url)
    if _CONTROL.search(url) or url != url.strip() or " " in url:
        raise ConfigError(f"{setting} {shown!r} contains whitespace or a control character")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"{setting} {shown!r} is not a valid URL ({exc})") from None
    try:
        port = parts.port
    except ValueError:
        port = 0
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{setting} {shown!r} must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{setting} {shown!r} has credentials in it (user:password@); a key belongs in "
            f"{key_hint}, not in the URL"
        )
    if not parts.hostname:
        raise ConfigError(f"{setting} {shown!r} names no host")
    if port == 0:
        raise ConfigError(f"{setting} {shown!r} has an invalid port (must be 1-65535)")


def check_api_key(key: Secret, *, setting: str) -> None:
    """Refuse a key an HTTP header cannot carry, or that carries more than the key: a
    line break (which, if sent, would split the header), a NUL or other control character,
    surrounding whitespace (a stray newline or space pasted in, or read from a file), or
    a character outside ASCII. Refused rather than stripped: the fix is the caller's, and a
    key silently changed would fail later as a puzzling 401. The value is never shown."""
    value = key.reveal()
    problem = None
    if "\r" in value or "\n" in value:
        problem = "a line break (CR or LF)"
    elif "\x00" in value:
        problem = "a NUL character"
    elif _CONTROL.search(value):
        problem = "a control character"
    elif value != value.strip():
        problem = "leading or trailing whitespace"
    elif not value.isascii():
        problem = "a character outside ASCII"
    if problem is not None:
        raise ConfigError(
            f"{setting} contains {problem}, which an HTTP header cannot carry; check the "
            "key for a stray character (e.g. a newline read from a file)"
        )


def _env(name: str | None) -> str | None:
    if not name:
        return None
    return os.environ.get(name) or None
