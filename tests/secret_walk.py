"""A walker over everything an exception holds, to assert an API key is in none of it.

Used by the secrets tests of sluicegate and of its plugins: it visits an error's
attributes (``vars``, ``__slots__``), args, notes, cause and context (not its traceback:
frames are the process's own, never pickled or printed by sluicegate), and the contents of
mappings and sequences, at any depth; then its str, repr, formatted traceback and pickle.
"""

from __future__ import annotations

import base64
import pickle
import traceback
import types
from collections.abc import Iterator, Mapping
from urllib.parse import quote


def key_forms(key: str) -> tuple[str, ...]:
    """The key as a server may echo it: itself, percent-encoded, base64."""
    return (key, quote(key, safe=""), base64.b64encode(key.encode()).decode())


def _reachable(root: object) -> Iterator[object]:
    """Everything ``root`` holds: attributes (``vars``, ``__slots__``), an exception's args,
    notes, cause and context (not its traceback: frames are the process's own), and the
    contents of mappings and sequences, at any depth."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        obj = pending.pop()
        if id(obj) in seen or isinstance(obj, type | types.ModuleType | types.FunctionType):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, str | bytes | bytearray | int | float | None):
            continue
        if isinstance(obj, Mapping):
            pending.extend(obj.keys())
            pending.extend(obj.values())
            continue
        if isinstance(obj, list | tuple | set | frozenset):
            pending.extend(obj)
            continue
        if isinstance(obj, BaseException):
            pending.extend(obj.args)
            pending.extend([obj.__cause__, obj.__context__, getattr(obj, "__notes__", None)])
        pending.extend(getattr(obj, "__dict__", {}).values())
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(obj, slot):
                    pending.append(getattr(obj, slot))


def assert_key_absent(error: BaseException, key: str) -> None:
    forms = key_forms(key)
    for obj in _reachable(error):
        if isinstance(obj, bytes | bytearray):
            obj = obj.decode("utf-8", "replace")
        if isinstance(obj, str):
            assert not any(f in obj for f in forms), f"key in {type(error).__name__}: {obj!r}"
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    assert not any(f in text for f in forms for text in texts)
    dumped = pickle.dumps(error)
    assert not any(f.encode() in dumped for f in forms), "key in the pickle"
    assert not any(f in text for f in forms for text in [repr(pickle.loads(dumped))])
