"""The native transport: HTTP/1.1 over anyio streams with httptools' C parser.

- ``http11``: a request's bytes, a response's parsing;
- ``pool``: connections and their reuse;
- ``transport``: :class:`NativeTransport`, the timers and the two ways to read an answer.
"""

from sluicegate.transports.native.transport import NativeTransport

__all__ = ["NativeTransport"]
