"""What shape an answer must have: a pydantic model class or a JSON Schema dict, one
interface for both.

A pydantic model is the caller's own type, so validation gives their object back
(``.parsed`` is a ``Model`` instance); a dict schema is checked with ``jsonschema`` (the
reference validator) and gives the plain value. Either way the schema as JSON Schema is
what a provider is asked to follow, and the problems found, each with the path of the
field at fault, are what a re-ask shows the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluicegate.errors import ConfigError, StructuredAnswerError
from sluicegate.secrets import scrub

__all__ = ["AnswerSchema"]

_MAX_PROBLEMS = 10


class AnswerSchema:
    """A ``response_format=``: a pydantic ``BaseModel`` subclass or a JSON Schema dict."""

    __slots__ = ("_model", "_validator", "json_schema", "name")

    def __init__(self, shape: Any) -> None:
        self._model: Any = None
        self._validator: Any = None
        if isinstance(shape, type) and hasattr(shape, "model_validate"):
            model: Any = shape  # a pydantic model class (pydantic is the caller's)
            self._model = model
            self.json_schema: dict[str, Any] = model.model_json_schema()
            self.name: str = model.__name__
        elif isinstance(shape, Mapping):
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
            self.json_schema = schema
            self.name = str(schema.get("title") or "answer")
        else:
            raise ConfigError(
                "response_format must be a pydantic model class or a JSON Schema dict, got "
                f"{type(shape).__name__}"
            )

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
        else:
            for error in list(self._validator.iter_errors(value))[:_MAX_PROBLEMS]:
                where = ".".join(str(p) for p in error.absolute_path) or "(top)"
                problems.append(f"{where}: {error.message}")
            if not problems:
                return value
        raise StructuredAnswerError(
            f"the answer does not fit {self.name}: " + "; ".join(problems),
            answer=scrub(answer),
            problems=tuple(problems),
        )
