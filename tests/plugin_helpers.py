"""What the plugin tests share: a recording observer plugin and a third-party provider.

(At the top of tests/, not in tests/plugins/: there ``plugins.helpers`` would resolve to
the repository's plugins/ folder once the Anthropic plugin's own tests are collected.)

- :class:`Observer` records every ``sluicegate_request_finished`` and
  ``sluicegate_attempt_failed`` event it is told.
- :func:`echo_provider` is a provider kind in a few lines, OpenAI's codec under the name
  ``echo``, at a base URL of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate import ProviderSpec, hookimpl
from sluicegate.observers import AttemptFailed, RequestFinished
from sluicegate.providers.openai import OpenAIProvider

ECHO_BASE_URL = "http://127.0.0.1:1/v1"


class Observer:
    name = "observer"

    def __init__(self) -> None:
        self.finished: list[RequestFinished] = []
        self.failed: list[AttemptFailed] = []

    @hookimpl
    def sluicegate_request_finished(self, event: RequestFinished) -> None:
        self.finished.append(event)

    @hookimpl
    def sluicegate_attempt_failed(self, event: AttemptFailed) -> None:
        self.failed.append(event)


def _openai_codec(name: str, base_url: str, headers: Mapping[str, str]) -> OpenAIProvider:
    return OpenAIProvider(base_url, headers, name=name)


def echo_provider(*, key_variable: str | None = None) -> ProviderSpec:
    """The ``echo`` kind: it needs a key only when it names the variable to read it from."""
    return ProviderSpec(
        name="echo",
        factory=_openai_codec,
        default_base_url=ECHO_BASE_URL,
        api_key_env=key_variable,
        needs_key=key_variable is not None,
    )
