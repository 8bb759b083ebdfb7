"""A JSON Schema read from a file (``sluicegate run --schema FILE``), every mistake
reported with the file, and the line and column for JSON that does not parse."""

from __future__ import annotations

import json
from pathlib import Path

from sluicegate.errors import ConfigError
from sluicegate.structured.schema import AnswerSchema

__all__ = ["load_schema_file"]


def load_schema_file(path: Path) -> AnswerSchema:
    """The :class:`AnswerSchema` of the JSON Schema in ``path`` (a JSON Schema, or an
    OpenAI ``response_format`` object); a ConfigError naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{path}: cannot read the schema: {reason}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: a schema file holds a JSON object (a JSON Schema), not a "
            f"{type(value).__name__}"
        )
    try:
        return AnswerSchema(value)
    except ConfigError as exc:
        reason = exc.message.removeprefix("response_format: ")
        raise ConfigError(f"{path}: {reason}") from None
