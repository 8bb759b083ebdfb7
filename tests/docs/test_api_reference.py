"""Every public name has an entry in the API reference, so a new public name without one
fails the suite: the names in ``sluicegate.__all__`` and in the ``__all__`` of each module
users and plugin authors import from."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import sluicegate
from docs.reference_pages import Directive, directives

PUBLIC_MODULES = [
    "sluicegate",
    "sluicegate.plugins",
    "sluicegate.testing",
    "sluicegate.cost",
    "sluicegate.limits",
    "sluicegate.structured",
    "sluicegate.stores",
    "sluicegate.bulk",
    "sluicegate.ray_data",
]
NOT_RENDERED = {"__version__"}  # a string, shown on no page


def rendered_names(directive: Directive) -> set[str]:
    """The full paths a directive renders: itself, and a module's members."""
    names = {directive.identifier}
    members = directive.members
    if members is False:
        return names
    if isinstance(members, list):
        return names | {f"{directive.identifier}.{m}" for m in members}
    try:
        module = importlib.import_module(directive.identifier)
    except ImportError:
        return names  # a class or function: its own members are not public names
    return names | {f"{directive.identifier}.{m}" for m in getattr(module, "__all__", ())}


def documented() -> tuple[set[str], set[int]]:
    """The paths rendered, and the ids of the objects behind them (an object rendered
    under one public path is documented for its other public paths)."""
    paths = set().union(*(rendered_names(d) for d in directives()))
    objects = set()
    for path in paths:
        value = resolve(path)
        if has_identity(value):
            objects.add(id(value))
    return paths, objects


def has_identity(value: object) -> bool:
    """Whether being the same object means being the same name: classes, functions, type
    aliases, markers; not a number or a string, which two constants may share."""
    return not isinstance(value, str | bytes | int | float | type(None))


def resolve(path: str) -> object:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise LookupError(path)


def public_names(module: ModuleType) -> list[str]:
    return [name for name in module.__all__ if name not in NOT_RENDERED]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_has_a_reference_entry(module_name: str) -> None:
    module = importlib.import_module(module_name)
    paths, objects = documented()
    missing = []
    for name in public_names(module):
        value = getattr(module, name)
        if f"{module_name}.{name}" in paths:
            continue
        if has_identity(value) and id(value) in objects:
            continue
        missing.append(name)
    assert not missing, (
        f"{module_name}: no entry in docs/reference/ for {missing}: add `::: "
        f"{module_name}.NAME` to the page it belongs to (or the name to a module "
        "directive's `members`)"
    )


def test_every_top_level_name_is_documented_under_its_own_name() -> None:
    """``sluicegate.X`` is how users import each of these: its entry is ``::: sluicegate.X``
    (not only the module path it happens to live in)."""
    paths, _ = documented()
    missing = [n for n in public_names(sluicegate) if f"sluicegate.{n}" not in paths]
    assert not missing, f"no `::: sluicegate.NAME` in docs/reference/ for {missing}"


def test_every_directive_names_something_that_exists() -> None:
    for directive in directives():
        for path in rendered_names(directive):
            resolve(path)  # raises for a typo or a removed name


def test_no_object_is_rendered_twice() -> None:
    """Two entries for one object split its links between two anchors."""
    seen: dict[str, str] = {}
    for directive in directives():
        assert directive.identifier not in seen, (
            f"{directive.identifier} is on {seen[directive.identifier]} and {directive.page}"
        )
        seen[directive.identifier] = directive.page
