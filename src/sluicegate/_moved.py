"""Old import paths of modules that moved when the package was regrouped by concern.

``import sluicegate.prices`` (and the other paths in :data:`MOVED`) keeps working for one
release: a finder on ``sys.meta_path`` answers the old name with the module at its new
place, the same module object, so classes and state are shared, and warns with a
:class:`DeprecationWarning` naming the new path. No file is left at the old place, so the
tree shows only the new layout; the finder costs nothing until an old name is imported.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Final, cast

if TYPE_CHECKING:
    import importlib.abc

__all__ = ["MOVED", "install"]

MOVED: Final[dict[str, str]] = {
    "sluicegate.prices": "sluicegate.cost.prices",
    "sluicegate.price_data": "sluicegate.cost.price_data",
    "sluicegate.price_file": "sluicegate.cost.price_file",
    "sluicegate.exact": "sluicegate.cost.exact",
    "sluicegate.ledger": "sluicegate.cost.ledger",
    "sluicegate.budget": "sluicegate.cost.budget",
    "sluicegate.middleware.cost": "sluicegate.cost.stage",
    "sluicegate.backoff": "sluicegate.retry.backoff",
    "sluicegate.retry_budget": "sluicegate.retry.budget",
    "sluicegate.retry_after": "sluicegate.retry.retry_after",
    "sluicegate.middleware.retry": "sluicegate.retry.stage",
    "sluicegate.middleware.breaker": "sluicegate.breaker.stage",
    "sluicegate.middleware.ratelimit": "sluicegate.limits",
    "sluicegate.limits.estimate": "sluicegate.estimate",
    "sluicegate.hookspecs": "sluicegate.plugins.hookspecs",
    "sluicegate.plugin_manager": "sluicegate.plugins.manager",
    "sluicegate.builtin": "sluicegate.plugins.builtin",
}
"""Old module path → where it is now. ``sluicegate.cost`` and ``sluicegate.breaker`` are
packages now whose ``__init__`` re-exports what the old modules offered."""


# Plain classes with the finder/loader methods, not subclasses of importlib.abc's: that
# module imports importlib.resources and costs tens of ms, and `import sluicegate` runs
# this file.
class _MovedLoader:
    def __init__(self, new_name: str) -> None:
        self._new_name = new_name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self._new_name}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self._new_name)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module at the new path is already imported."""


class _MovedFinder:
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        new_name = MOVED.get(fullname)
        if new_name is None:
            return None
        loader = cast("importlib.abc.Loader", _MovedLoader(new_name))  # (duck-typed)
        return importlib.machinery.ModuleSpec(fullname, loader)


_FINDER: Final = _MovedFinder()


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (``import sluicegate`` does)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)
