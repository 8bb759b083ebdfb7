"""What shape an answer must have: a pydantic model class or a JSON Schema dict, one
interface for both.

A pydantic model is the caller's own type, so validation gives their object back
(``.parsed`` is a ``Model`` instance); a dict schema is checked with ``jsonschema`` (the
reference validator) and gives the plain value. Either way the schema as JSON Schema is
what a provider is asked to follow, and the problems found, each with the path of the
field at fault, are what a re-ask shows the model.

OpenAI's own ``response_format`` dicts are understood too, so code written for the
openai SDK moves over unchanged: ``{"type": "json_schema", "json_schema": {"name": ...,
"schema": ..., "strict": ...}}`` is that schema, and ``{"type": "json_object"}`` is "any
JSON object" (parsed and repaired, not validated). ``json_object``/``json_schema`` are
not JSON Schema types, so neither form can be mistaken for a schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sluicegate.errors import ConfigError, StructuredAnswerError
from sluicegate.secrets import scrub

__all__ = ["AnswerSchema", "answer_schema"]

_MAX_PROBLEMS = 10
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
"""What OpenAI's ``json_schema.name`` and Anthropic's tool names refuse."""


class AnswerSchema:
    """A ``response_format=``: a pydantic ``BaseModel`` subclass, a JSON Schema dict, or
    one of OpenAI's ``response_format`` dicts (see the module's docstring).

    ``json_schema`` is None for "any JSON object" (OpenAI's ``json_object`` mode).
    ``name`` is safe as a schema or tool name on every provider (letters, digits, ``_``
    and ``-``, at most 64 characters). ``strict`` is OpenAI's strict structured-output
    flag, off unless the caller's OpenAI dict set it: strict mode refuses schemas that
    pydantic writes (optional fields, defaults), and the answer is validated here anyway.
    """

    __slots__ = ("_key", "_model", "_validator", "json_schema", "name", "strict")

    def __init__(self, shape: Any) -> None:
        self._model: Any = None
        self._validator: Any = None
        self.strict = False
        name = "answer"
        schema: dict[str, Any] | None
        if isinstance(shape, type) and hasattr(shape, "model_validate"):
            model: Any = shape  # a pydantic model class (pydantic is the caller's)
            self._model = model
            name = model.__name__
            try:
                schema = model.model_json_schema()
            except Exception as exc:  # pydantic's own errors: a model not fully defined...
                raise ConfigError(
                    f"response_format {name}: pydantic cannot write its JSON Schema: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
                ) from None
        elif isinstance(shape, Mapping):
            schema, name = self._from_mapping(shape)
        else:
            raise ConfigError(
                "response_format must be a pydantic model class or a JSON Schema dict, got "
                f"{type(shape).__name__}"
            )
        self.json_schema: dict[str, Any] | None = schema
        self.name: str = _NAME_UNSAFE.sub("_", name)[:64] or "answer"
        # what a request fingerprint (idempotency) and equality compare: the schema as sent
        self._key = json.dumps([self.name, self.strict, schema], sort_keys=True, default=str)

    def _from_mapping(self, shape: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
        kind = shape.get("type")
        if kind == "json_object":
            return None, "answer"
        if kind == "json_schema":
            inner = shape.get("json_schema")
            if not isinstance(inner, Mapping) or not isinstance(inner.get("schema"), Mapping):
                raise ConfigError(
                    "response_format: an OpenAI json_schema format needs "
                    "'json_schema': {'name': ..., 'schema': {...}}"
                )
            self.strict = inner.get("strict") is True
            schema = self._checked(inner["schema"])
            return schema, str(inner.get("name") or schema.get("title") or "answer")
        schema = self._checked(shape)
        return schema, str(schema.get("title") or "answer")

    def _checked(self, shape: Mapping[str, Any]) -> dict[str, Any]:
        import jsonschema

        schema = dict(shape)
        try:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.path) or "(top)"
            raise ConfigError(
                f"response_format: not a valid JSON Schema at {where}: {exc.message}"
            ) from None
        self._validator = validator_class(schema)
        return schema

    def as_response_format(self) -> dict[str, Any]:
        """This schema as OpenAI's ``response_format`` dict, plain JSON values: what to
        ship to another process (a Ray actor) and build the same AnswerSchema from there
        (same name, strictness and schema, so the same request fingerprints)."""
        if self.json_schema is None:
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {"name": self.name, "schema": self.json_schema, "strict": self.strict},
        }

    def __repr__(self) -> str:
        return f"AnswerSchema({self._key})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnswerSchema) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def validate(self, value: Any, answer: str = "") -> Any:
        """``value`` as the schema's type (a model instance, or the value itself); a
        StructuredAnswerError listing what is wrong, field by field, otherwise."""
        problems: list[str] = []
        if self._model is not None:
            import pydantic

            try:
                return self._model.model_validate(value)
            except pydantic.ValidationError as exc:
                for error in exc.errors()[:_MAX_PROBLEMS]:
                    where = ".".join(str(p) for p in error.get("loc", ())) or "(top)"
                    problems.append(f"{where}: {error.get('msg')}")
        elif self._validator is not None:
            for error in list(self._validator.iter_errors(value))[:_MAX_PROBLEMS]:
                where = ".".join(str(p) for p in error.absolute_path) or "(top)"
                problems.append(f"{where}: {error.message}")
            if not problems:
                return value
        elif isinstance(value, dict):  # json_object mode: any object will do
            return value
        else:
            problems.append("(top): the answer must be a JSON object")
        raise StructuredAnswerError(
            f"the answer does not fit {self.name}: " + "; ".join(problems),
            answer=scrub(answer),
            problems=tuple(problems),
        )


@lru_cache(maxsize=256)
def _for_model(model: type) -> AnswerSchema:
    return AnswerSchema(model)


def answer_schema(shape: Any) -> AnswerSchema:
    """The AnswerSchema for a ``response_format=`` value: built once per pydantic model
    class (its JSON Schema is computed once, not on every call), given back as is when it
    is one already (``sluicegate run --schema`` builds it once per run)."""
    if isinstance(shape, AnswerSchema):
        return shape
    if isinstance(shape, type):
        try:
            return _for_model(shape)
        except TypeError:  # an unhashable class: build it afresh
            pass
    return AnswerSchema(shape)
