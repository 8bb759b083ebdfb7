"""A griffe extension for the docs site: the docstrings cross-reference in Sphinx's way
(``:class:`~sluicegate.errors.StreamError```), which Markdown shows as it is. Each role
becomes the name in code, linked to its reference entry when there is one.

A role's target is resolved from the object's scope as Python would (``:class:`Limit```
inside ``sluicegate.limits`` is ``sluicegate.limits.config.Limit``); the link is an
optional autoref, so a name the reference does not render (a private helper, a module
with no page) stays plain code rather than failing the strict build.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`<>]+)`")


def _target(obj: griffe.Object, name: str) -> str:
    """The full path of ``name`` as seen from ``obj`` (its scope, then its parents')."""
    name = name.lstrip(".")
    scope: griffe.Object | None = obj
    head = name.split(".", 1)[0]
    while scope is not None:
        try:
            resolved = scope.resolve(head)
        except (griffe.NameResolutionError, ValueError, AttributeError):
            scope = scope.parent
            continue
        return resolved + name[len(head) :]
    return name


def _rewrite(obj: griffe.Object, text: str) -> str:
    def one(match: re.Match[str]) -> str:
        tilde, name = match.groups()
        shown = name.rsplit(".", 1)[-1] if tilde else name.lstrip(".")
        target = _target(obj, name)
        return f'<autoref identifier="{target}" optional><code>{shown}</code></autoref>'

    return ROLE.sub(one, text)


class SphinxRoles(griffe.Extension):
    """Rewrites the roles in every docstring of a package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = _rewrite(obj, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)  # type: ignore[arg-type]
