"""Structured answers: the JSON in a model's answer found and repaired
(:func:`parse_answer`) and checked against a pydantic model or a JSON Schema
(:class:`AnswerSchema`). The client's ``response_format=`` and its re-asks build on these
(docs/structured.md)."""

from sluicegate.structured.parse import parse_answer
from sluicegate.structured.schema import AnswerSchema

__all__ = ["AnswerSchema", "parse_answer"]
