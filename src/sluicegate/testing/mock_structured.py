"""Structured answers from the mock: JSON that fits the schema a request asks for, or,
on purpose, JSON that does not.

A request asks for JSON by its format's means (OpenAI ``response_format``, an Anthropic
tool forced by ``tool_choice``, Gemini ``responseJsonSchema``); the wire format hands the
schema here and answers with :func:`structured_text`. The value is built from the schema
alone, deterministically (seeded by the prompt, SplitMix64 as :mod:`.content`): every
property present (so ``required`` holds), one of an ``enum`` (by the seed), the first non-null
branch of ``anyOf``/``oneOf``, numbers within ``minimum``/``maximum``, arrays of
``minItems`` (at least one) items, ``$ref`` into ``$defs``; so a pydantic model's schema
is met.

``MockConfig.invalid_json_answers`` (``--invalid-json-answers N``) makes the first N asks
of a conversation fail, to test re-asking: the ask's number is the count of assistant
turns in the request (a re-ask carries the earlier answers), so the server keeps no
state. Invalid answers alternate: prose with no JSON in it (even asks; a forced tool
call cannot hold prose, so there it is the wrong shape too), then JSON of the wrong
shape (odd asks: the first property given a value of the wrong type). A valid answer
after invalid ones comes in a code fence with a sentence before it, as models write it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sluicegate.testing.content import _VOCABULARY, _SplitMix64

__all__ = ["json_for_schema", "structured_text"]

_MAX_DEPTH = 8
_FORMATS = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "time": "12:00:00",
    "email": "mock@example.com",
    "uri": "https://example.com/mock",
    "uuid": "00000000-0000-4000-8000-000000000000",
}

_PROSE = "I read it carefully: it is mostly positive, with a few reservations."


def _rng(seed_text: str) -> _SplitMix64:
    digest = hashlib.sha256(seed_text.encode()).digest()
    return _SplitMix64(int.from_bytes(digest[:8], "big"))


def json_for_schema(schema: Mapping[str, Any] | None, seed_text: str = "") -> Any:
    """A value that fits ``schema`` (None: any object, the mock gives ``{"answer": ...}``)."""
    rng = _rng(seed_text)
    if schema is None:
        return {"answer": _VOCABULARY[rng.next() & 63]}
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _value(schema, defs, rng, 0)


def _value(schema: Mapping[str, Any], defs: Mapping[str, Any], rng: _SplitMix64, depth: int) -> Any:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rpartition("/")[2])
        return _value(target, defs, rng, depth + 1) if isinstance(target, Mapping) else {}
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][rng.below(len(schema["enum"]))]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            chosen = next((b for b in branches if b.get("type") != "null"), branches[0])
            return _value(chosen, defs, rng, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if depth > _MAX_DEPTH:
        return {"object": {}, "array": [], "string": "", "null": None}.get(kind, 0)
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _value(sub, defs, rng, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        items = schema.get("items") or {}
        count = max(int(schema.get("minItems", 1)), 1)
        count = min(count, int(schema.get("maxItems", count)))
        return [_value(items, defs, rng, depth + 1) for _ in range(count)]
    if kind == "string":
        return _string(schema, rng)
    if kind in ("integer", "number"):
        return _number(schema, rng, kind)
    if kind == "boolean":
        return bool(rng.next() & 1)
    return None


def _string(schema: Mapping[str, Any], rng: _SplitMix64) -> str:
    fixed = _FORMATS.get(str(schema.get("format")))
    if fixed is not None:
        return fixed
    text = " ".join(_VOCABULARY[rng.next() & 63] for _ in range(2))
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    while len(text) < low:
        text += " " + _VOCABULARY[rng.next() & 63]
    return text[: int(high)] if high is not None else text


def _number(schema: Mapping[str, Any], rng: _SplitMix64, kind: str) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 1))
    high = schema.get("maximum", schema.get("exclusiveMaximum", max(low, 1) + 4))
    if "exclusiveMinimum" in schema and "minimum" not in schema:
        low = low + 1 if kind == "integer" else low + 0.5
    if "exclusiveMaximum" in schema and "maximum" not in schema:
        high = high - 1 if kind == "integer" else high - 0.5
    if kind == "integer":
        low, high = int(low), int(high)
        return low + rng.below(max(high - low + 1, 1)) if high >= low else low
    return float(low) + (float(high) - float(low)) * (rng.below(1000) / 1000)


def _wrong_shape(value: Any) -> Any:
    """``value`` with its first property given a value of the wrong type."""
    if isinstance(value, dict) and value:
        first = next(iter(value))
        wrong = 12345 if isinstance(value[first], str) else "not the right type"
        return {**value, first: wrong}
    return [value] if isinstance(value, dict) else {"unexpected": value}


def structured_text(
    schema: Mapping[str, Any] | None,
    seed_text: str,
    *,
    ask: int,
    invalid_answers: int,
    as_tool: bool,
) -> str:
    """The answer's text (for a tool call: its arguments) for ask number ``ask`` (0 for
    the first) of a conversation, the first ``invalid_answers`` asks failing on purpose."""
    value = json_for_schema(schema, seed_text)
    if ask < invalid_answers:
        if ask % 2 == 0 and not as_tool:
            return _PROSE
        return json.dumps(_wrong_shape(value))
    text = json.dumps(value)
    if invalid_answers and not as_tool:
        return f"Here is the corrected answer:\n```json\n{text}\n```"
    return text
