"""Test helpers: the mock LLM server (OpenAI- and Anthropic-compatible), its fault plans
and deterministic content; and :class:`ScriptedTransport`, a transport that answers from a
script of exact HTTP answers (:class:`Answer`), with :func:`openai_completion` and
:func:`openai_sse` to write OpenAI bodies in one line.

Importing this package is cheap: the app (Starlette), the server (hypercorn) and the
scripted transport are imported on first use of the names that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sluicegate.testing.faults import (
    FAULT_HEADER,
    FAULT_KINDS,
    FaultKind,
    FaultPlan,
    MockConnectionCut,
)

if TYPE_CHECKING:
    from sluicegate.testing.mock_app import MockApp, MockConfig, MockStats, create_app
    from sluicegate.testing.openai_bodies import openai_completion, openai_sse
    from sluicegate.testing.scripted import Answer, ScriptedStream, ScriptedTransport
    from sluicegate.testing.server import MockServer, run_mock_server, serve_mock

__all__ = [
    "FAULT_HEADER",
    "FAULT_KINDS",
    "Answer",
    "FaultKind",
    "FaultPlan",
    "MockApp",
    "MockConfig",
    "MockConnectionCut",
    "MockServer",
    "MockStats",
    "ScriptedStream",
    "ScriptedTransport",
    "create_app",
    "openai_completion",
    "openai_sse",
    "run_mock_server",
    "serve_mock",
]

_LAZY = {
    "MockApp": "sluicegate.testing.mock_app",
    "MockConfig": "sluicegate.testing.mock_app",
    "MockStats": "sluicegate.testing.mock_app",
    "create_app": "sluicegate.testing.mock_app",
    "MockServer": "sluicegate.testing.server",
    "run_mock_server": "sluicegate.testing.server",
    "serve_mock": "sluicegate.testing.server",
    "Answer": "sluicegate.testing.scripted",
    "ScriptedStream": "sluicegate.testing.scripted",
    "ScriptedTransport": "sluicegate.testing.scripted",
    "openai_completion": "sluicegate.testing.openai_bodies",
    "openai_sse": "sluicegate.testing.openai_bodies",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
