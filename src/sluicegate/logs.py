"""Logging through structlog, with API keys redacted by a processor.

sluicegate logs events with fields (request id, model, status, latency, tokens), never
formatted strings, and only with structlog's synchronous methods (the async ones run in
asyncio's executor and break under trio). If the application configured structlog, our
events go through its processors, with :func:`redact_secrets` placed first; if not, they go
to stderr, filtered at ``SLUICEGATE_LOG_LEVEL`` (default ``warning``) so that a bulk run
does not print a line per request unless asked to.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

from sluicegate.secrets import scrub

LEVEL_ENV = "SLUICEGATE_LOG_LEVEL"


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, BaseException):
        return scrub(repr(value))
    if isinstance(value, dict):
        return {k: _scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(v) for v in value)
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor that blanks API keys out of every value of an event, including
    keys a caller logs by mistake. Put it before the renderer."""
    for key, value in event_dict.items():
        event_dict[key] = _scrub_value(value)
    return event_dict


def _level(level: str | int | None) -> int:
    if isinstance(level, int):
        return level
    name = (level or os.environ.get(LEVEL_ENV) or "warning").upper()
    value = logging.getLevelName(name)
    return value if isinstance(value, int) else logging.WARNING


def get_logger(name: str = "sluicegate", level: str | int | None = None) -> Any:
    """sluicegate's logger: the application's structlog setup with redaction first, or a
    quiet stderr logger when the application has not configured structlog. It is bound
    at once (a lazy structlog proxy would rebuild the logger on every call).

    structlog is imported here, when a client is built, not at ``import sluicegate``:
    importing it costs more than the rest of sluicegate together."""
    import structlog

    if structlog.is_configured():
        processors = [redact_secrets, *structlog.get_config()["processors"]]
        return structlog.wrap_logger(
            None, processors=processors, logger_factory_args=(name,)
        ).bind()
    return structlog.wrap_logger(
        structlog.PrintLogger(sys.stderr),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            redact_secrets,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level(level)),
        logger_name=name,
    ).bind()


def is_enabled(logger: Any, level: int) -> bool:
    """Whether ``logger`` emits ``level`` (decided once per client, so a filtered-out
    event costs nothing per request); True when the logger cannot tell."""
    check = getattr(logger, "is_enabled_for", None)
    return bool(check(level)) if check is not None else True


def configure_logging(level: str | int | None = None, *, json: bool = False) -> None:
    """Configure structlog globally for an application or the CLI, redaction included, so
    that the application's own events are scrubbed too."""
    import structlog

    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
