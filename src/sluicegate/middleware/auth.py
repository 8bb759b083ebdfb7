"""Auth: put the provider's API key on each attempt, innermost in the chain.

Keys are resolved once, when the client is built (explicit configuration first, then the
provider's environment variable, as the official SDKs do). Auth sits innermost because the
key depends on the provider that outer stages (fallback) finally chose. A provider that
needs a key and has none fails here, before anything is sent, naming the variable to set.
A compatible server added under a name of its own (vLLM, Ollama) often takes no key, so
for those a key is sent when configured and not demanded otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.errors import AuthenticationError
from sluicegate.providers.base import BoundProvider
from sluicegate.providers.endpoint import key_variable
from sluicegate.types import Request


class AuthMiddleware:
    """Sets ``request.credential`` from the key resolved for the request's provider.

    ``providers`` is the client's own mapping, read per request rather than copied, so a
    provider that a plugin registered later adds is served by this same stage."""

    __slots__ = ("_providers",)

    def __init__(self, providers: Mapping[str, BoundProvider]) -> None:
        self._providers = providers

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        bound = self._providers.get(request.provider)
        if bound is None:  # the Dispatcher names the unknown provider
            return await call_next(request)
        key = bound.credential
        if key is not None:
            return await call_next(request.replace(credential=key))
        if bound.spec.needs_key and bound.name == bound.spec.name:
            variable = key_variable(bound.name, bound.spec)
            how = f"set {variable} or pass" if variable else "pass"
            raise AuthenticationError(
                f"no API key: {how} "
                f"providers={{'{request.provider}': ProviderSettings(api_key=...)}}",
                provider=request.provider,
                model=request.model_name,
            )
        return await call_next(request)


def build(context: ChainContext) -> AuthMiddleware | None:
    """The auth stage, or None when no provider has or needs a key."""
    if not any(b.credential is not None or b.spec.needs_key for b in context.providers.values()):
        return None
    return AuthMiddleware(context.providers)
