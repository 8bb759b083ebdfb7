"""How a ``stage_settings`` value becomes a stage's policy: one reader, one set of rules.

Every built-in stage is configured by ``Client(stage_settings={name: value})`` and reads
its value with :func:`stage_policy`, so a value means the same thing whatever stage it
goes to and a wrong one is reported the same way:

- None or True: the policy's defaults; False: the stage is off (None is returned);
- an instance of the policy: used as it is;
- a mapping (as a config file gives them): the policy's dataclass fields. An unknown key
  is refused, naming the unknown and the known ones; a value the policy refuses
  (``TypeError``, ``ValueError`` or its own :class:`~sluicegate.errors.ConfigError`)
  becomes a ConfigError naming the stage and, when one key alone is to blame, that key;
- anything else: a ConfigError naming the stage, the forms it accepts and the type given.

A stage with a shorthand of its own (the deadline's seconds, the rate limiter's
:class:`~sluicegate.limits.Limit` or list of them) passes an :class:`ExtraForm`, which
turns that shorthand into a policy; the rules above stay this module's alone.

Every message starts with where the value was given, ``stage_settings['retry']`` (and
``['attempts']`` for a key), spelt as ``batch_limits['mock']`` and the client's own
messages are. The reader runs once, when a client is built, never per request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sluicegate.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["ExtraForm", "stage_policy"]

P = TypeVar("P", bound="DataclassInstance")

_REFUSED = (TypeError, ValueError, ConfigError)
"""What a policy's construction raises for a value it will not take."""


@dataclass(frozen=True)
class ExtraForm(Generic[P]):
    """A stage's own shorthand for its policy, besides the shared forms.

    ``forms`` says what it accepts, for the error message (``"seconds"``); ``read``
    returns the policy the value stands for, or None when the value is not one of
    these forms (the shared rules then refuse it). What ``read`` raises for a value it
    does take is reported like a mapping's wrong value.
    """

    forms: str
    read: Callable[[Any], P | None]


def stage_policy(
    stage: str, policy: type[P], value: object, extra: ExtraForm[P] | None = None
) -> P | None:
    """The policy ``stage_settings[stage] = value`` asks for (None: the stage is off).

    ``policy`` is the stage's frozen dataclass; ``extra`` its shorthand, if it has one.
    The rules are the module docstring's; every refusal is a ConfigError.
    """
    if value is None or value is True:
        return policy()
    if value is False:
        return None
    if isinstance(value, policy):
        return value
    where = f"stage_settings[{stage!r}]"
    if extra is not None:
        try:
            read = extra.read(value)
        except _REFUSED as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        if read is not None:
            return read
    if isinstance(value, Mapping):
        return _from_fields(where, policy, value)
    forms = f"{_named(policy)}, a mapping of its fields"
    if extra is not None:
        forms = f"{forms}, {extra.forms}"
    raise ConfigError(
        f"{where}: expected {forms}, None or True (the defaults) or False (off); "
        f"got {type(value).__name__}"
    )


def _from_fields(where: str, policy: type[P], options: Mapping[Any, Any]) -> P:
    known = sorted(f.name for f in fields(policy) if f.init)
    unknown = sorted((key for key in options if key not in known), key=repr)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {unknown}; known: {known}")
    try:
        return policy(**options)
    except _REFUSED as exc:
        key = _culprit(policy, options)
        at = f"{where}[{key!r}]" if key is not None else where
        raise ConfigError(f"{at}: {exc}") from exc


def _culprit(policy: type[P], options: Mapping[str, Any]) -> str | None:
    """The key to blame: the only one without which the other options are accepted.
    None when there is no such key (two wrong values) or several (values wrong only
    together, each fine alone). Only on the error path: the policy is built once more
    per key (a plain frozen dataclass: cheap, and without effects)."""
    blamed = [key for key in options if _accepted(policy, options, key)]
    return blamed[0] if len(blamed) == 1 else None


def _accepted(policy: type[P], options: Mapping[str, Any], without: str) -> bool:
    try:
        policy(**{key: value for key, value in options.items() if key != without})
    except _REFUSED:
        return False
    return True


def _named(policy: type[Any]) -> str:
    name = policy.__name__
    return f"{'an' if name[0] in 'AEIOU' else 'a'} {name}"
