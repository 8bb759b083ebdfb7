"""The user's price file: TOML that overrides or adds model prices.

::

    # prices.toml: USD per million tokens
    [models."openai/gpt-4o-mini"]
    input = 0.15
    output = 0.60
    cached_input = 0.075      # optional: cache reads (default: the input price)
    cache_write = 0.1875      # optional: cache writes (default: the input price)
    batch_discount = 0.5      # optional: fraction off for batch jobs (default 0.5)

It is given as ``Client(prices="prices.toml")``, ``SLUICEGATE_PRICES=prices.toml`` or
``sluicegate prices --prices prices.toml``. Every mistake is a
:class:`~sluicegate.errors.BadInputError` naming the file, the line where it can be
found, the model and the field, so a typo in a price never turns into a silent zero.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from sluicegate.cost.prices import ModelPrice, price_problem
from sluicegate.errors import BadInputError, ConfigError
from sluicegate.toml_file import read_toml

__all__ = ["PRICES_ENV", "load_price_file", "price_entry"]

PRICES_ENV: Final = "SLUICEGATE_PRICES"
"""The environment variable naming a price file, used when no file is passed."""

_FIELDS: Final = {
    "input": "input_per_mtok",
    "output": "output_per_mtok",
    "cached_input": "cached_input_per_mtok",
    "cache_write": "cache_write_per_mtok",
    "batch_discount": "batch_discount",
}
_REQUIRED: Final = ("input", "output")


def load_price_file(path: str | os.PathLike[str]) -> list[ModelPrice]:
    """The prices in a TOML price file, each with source ``"file PATH"``."""
    file, text, data = read_toml(path, "price file")
    unknown = sorted(set(data) - {"models"})
    if unknown:
        raise BadInputError(
            f'unknown top-level key(s) {unknown}: prices go in [models."provider/model"] tables',
            file=file,
            line=_line_of(text, unknown[0]),
            field=unknown[0],
        )
    models = data.get("models", {})
    if not isinstance(models, Mapping):
        raise BadInputError(
            "'models' must be a table of [models.\"provider/model\"] entries",
            file=file,
            line=_line_of(text, "models"),
            field="models",
        )
    source = f"file {file}"
    return [_price(file, text, model, entry, source) for model, entry in models.items()]


def _price(file: str, text: str, model: str, entry: Any, source: str) -> ModelPrice:
    return price_entry(file, _line_of(text, model), f'models."{model}"', model, entry, source)


def price_entry(
    file: str, line: int | None, where: str, model: str, entry: Any, source: str
) -> ModelPrice:
    """One ``{input, output, ...}`` table as a ModelPrice; every mistake a BadInputError
    naming ``file``, ``line`` and the key (``where``, e.g. ``prices."openai/x"``): a price
    file's entries and a config file's ``[prices]`` are checked alike."""
    if not isinstance(entry, Mapping):
        raise BadInputError(
            f"{where} must be a table with input and output prices",
            file=file,
            line=line,
            field=where,
        )
    if "/" not in model:
        raise BadInputError(
            f"{where}: model must be named 'provider/model', e.g. 'openai/gpt-4o-mini'",
            file=file,
            line=line,
            field=where,
        )
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise BadInputError(
            f"{where}: unknown field(s) {unknown}; known: {sorted(_FIELDS)}",
            file=file,
            line=line,
            field=f"{where}.{unknown[0]}",
        )
    missing = [name for name in _REQUIRED if name not in entry]
    if missing:
        raise BadInputError(
            f"{where}: missing {' and '.join(missing)} (USD per million tokens)",
            file=file,
            line=line,
            field=f"{where}.{missing[0]}",
        )
    values: dict[str, Any] = {}
    for name, attr in _FIELDS.items():
        if name not in entry:
            continue
        value = entry[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadInputError(
                f"{where}.{name} must be a number, got {value!r}",
                file=file,
                line=line,
                field=f"{where}.{name}",
            )
        if name == "batch_discount":
            if not 0 <= value <= 1:
                raise BadInputError(
                    f"{where}.batch_discount must be a fraction from 0 to 1 (0.5 = half "
                    f"price), got {value!r}",
                    file=file,
                    line=line,
                    field=f"{where}.batch_discount",
                )
        elif (problem := price_problem(value)) is not None:
            raise BadInputError(
                f"{where}.{name} {problem}",
                file=file,
                line=line,
                field=f"{where}.{name}",
            )
        values[attr] = float(value)
    try:
        return ModelPrice(model=model, source=source, **values)
    except ConfigError as exc:  # checked above; kept so no other mistake loses its place
        raise BadInputError(exc.message, file=file, line=line, field=where) from None


def _line_of(text: str, key: str) -> int | None:
    """The first line that names ``key`` (a model's table header, usually): where to look
    for a mistake, since tomllib keeps no positions for values."""
    for number, line in enumerate(text.splitlines(), start=1):
        if key in line:
            return number
    return None
