"""The answer shapes the structured-answer tests ask for: one review, as a JSON Schema."""

from __future__ import annotations

from typing import Any

REVIEW_SCHEMA: dict[str, Any] = {
    "title": "Review",
    "type": "object",
    "properties": {
        "sentiment": {"enum": ["positive", "negative", "mixed"]},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["sentiment", "score"],
    "additionalProperties": False,
}
