"""The ``hang`` fault's wait: no answer for ``MockConfig.hang_s``, ending early when the
client gives up or the server shuts down.

Hung handlers must not outlive their purpose: one whose client left would pile up for an
hour, and a server shutting down would wait for every one of them. So each wait watches
for ``http.disconnect`` and is registered here, where :meth:`Hangs.abort_all` ends them.
"""

from __future__ import annotations

from typing import Literal

import anyio
from starlette.types import Receive

from sluicegate.testing.mock_streaming import until_disconnected

__all__ = ["HangOutcome", "Hangs"]

HangOutcome = Literal["elapsed", "disconnected", "aborted"]


class Hangs:
    """The ``hang`` waits in progress on one app."""

    __slots__ = ("_scopes",)

    def __init__(self) -> None:
        self._scopes: set[anyio.CancelScope] = set()

    async def wait(self, seconds: float, receive: Receive) -> HangOutcome:
        """Wait ``seconds``; "disconnected" if the client went away first, "aborted" if
        :meth:`abort_all` ended the wait."""
        disconnected = False
        with anyio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                async with anyio.create_task_group() as group:

                    async def watch() -> None:
                        nonlocal disconnected
                        await until_disconnected(receive)
                        disconnected = True
                        group.cancel_scope.cancel()

                    group.start_soon(watch)
                    await anyio.sleep(seconds)
                    group.cancel_scope.cancel()
            finally:
                self._scopes.discard(scope)
        if disconnected:
            return "disconnected"
        return "aborted" if scope.cancelled_caught else "elapsed"

    def abort_all(self) -> None:
        """End every wait in progress."""
        for scope in list(self._scopes):
            scope.cancel()
