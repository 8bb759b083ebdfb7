"""The JSON in a model's answer, found and repaired the way models actually write it.

Asked for JSON, models answer with a code fence around it, a sentence before or after
it, a trailing comma, single quotes, or an object cut off by ``max_tokens``. Hand-written
"strip the fences, find the first ``{``, hope" code is what users write today; this reads
the answer strictly first (the common, well-formed case costs one parse), then hands
anything else to json-repair, a maintained repair library, rather than growing our own.
What is found is returned as Python values; whether it has the right shape is the
schema's to say (:mod:`sluicegate.structured.schema`).
"""

from __future__ import annotations

import json
from typing import Any

from sluicegate.errors import StructuredAnswerError
from sluicegate.secrets import scrub

__all__ = ["parse_answer"]

_SHOWN = 200
"""Characters of a bad answer quoted in the error message."""


def parse_answer(text: str) -> Any:
    """The JSON object or array in ``text`` (a model's answer), repaired if it must be;
    :class:`~sluicegate.errors.StructuredAnswerError` when there is none."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    if "{" not in text and "[" not in text:
        raise _no_json(text)
    import json_repair

    value = json_repair.repair_json(text, return_objects=True)
    if not isinstance(value, dict | list) or (not value and "{}" not in text and "[]" not in text):
        raise _no_json(text)
    return value


def _no_json(text: str) -> StructuredAnswerError:
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return StructuredAnswerError(
        f"the answer holds no JSON object or array: {shown!r}", answer=scrub(text)
    )
