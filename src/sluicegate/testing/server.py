"""Serving the mock app over real HTTP with hypercorn.

:func:`serve_mock` runs the server inside the caller's event loop (asyncio or trio, picked
with sniffio), for tests; :func:`run_mock_server` blocks, for the command line and for
benchmarks run in their own process.

The listening socket is bound here and handed to hypercorn as ``fd://N``: that is how
port 0 works (the kernel picks a free port and we read it back before serving), and
since the socket is already listening, clients can connect as soon as the address is
known, with no wait for the server to report that it is ready.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import anyio
import sniffio

from sluicegate.testing.faults import MockConnectionCut
from sluicegate.testing.mock_app import MockApp, MockConfig, MockStats, create_app

__all__ = ["MockServer", "run_mock_server", "serve_mock"]

BACKLOG = 1024
"""Listen backlog: benchmarks open many connections at once."""

_LOGGER_NAME = "sluicegate.testing.server"


@dataclass(frozen=True, slots=True)
class MockServer:
    """A running mock server, as :func:`serve_mock` yields it."""

    base_url: str
    """``http://127.0.0.1:PORT``, with no trailing slash and no ``/v1``."""
    app: MockApp
    host: str
    port: int

    @property
    def stats(self) -> MockStats:
        return self.app.stats

    @property
    def openai_base_url(self) -> str:
        """What OpenAI clients take as base URL (``OPENAI_BASE_URL``): it ends in ``/v1``."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """What Anthropic clients take as base URL (``ANTHROPIC_BASE_URL``): the origin."""
        return self.base_url

    @property
    def gemini_base_url(self) -> str:
        """What sluicegate's Gemini provider takes as base URL (``GEMINI_BASE_URL``): it
        ends in ``/v1beta``. The google-genai SDK takes the origin (``base_url``) and the
        version apart (``api_version``)."""
        return self.base_url + "/v1beta"


def _is_connection_cut(exc: BaseException | None) -> bool:
    if isinstance(exc, MockConnectionCut):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_connection_cut(e) for e in exc.exceptions)
    return False


class _DropConnectionCuts(logging.Filter):
    """``cut_stream`` works by failing the app after the response started; hypercorn logs
    that as "Error in ASGI Framework" with a traceback. It is the intended fault, not an
    error, so it is kept out of the log; any other app failure still gets there."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_connection_cut(record.exc_info[1]))


def _error_logger() -> logging.Logger:
    logger = logging.getLogger(_LOGGER_NAME)
    if not any(isinstance(f, _DropConnectionCuts) for f in logger.filters):
        logger.addFilter(_DropConnectionCuts())
    return logger


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted connections: small SSE events go out at once.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _hypercorn_config(sock: socket.socket, graceful_timeout: float) -> Any:
    """A hypercorn Config serving ``sock``, which it takes over (the fd is detached)."""
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.backlog = BACKLOG
    config.accesslog = None  # no line per request: the mock is a benchmark peer
    config.errorlog = _error_logger()
    config.graceful_timeout = graceful_timeout
    config.include_server_header = False
    return config


def _serve_for_current_library() -> Callable[..., Awaitable[None]]:
    library = sniffio.current_async_library()
    if library == "trio":
        from hypercorn.trio import serve as trio_serve

        serve: Callable[..., Awaitable[None]] = trio_serve
    elif library == "asyncio":
        from hypercorn.asyncio import serve as asyncio_serve

        serve = asyncio_serve
    else:
        raise RuntimeError(f"serve_mock runs on asyncio or trio, not {library}")
    return serve


@asynccontextmanager
async def serve_mock(
    config: MockConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    app: MockApp | None = None,
    graceful_timeout: float = 1.0,
) -> AsyncIterator[MockServer]:
    """Run the mock server in the current event loop for the duration of the block.

    ``port=0`` picks a free port; the yielded :class:`MockServer` has the address. Pass
    ``app`` to serve an app you built (and, say, added admission checks to). On exit,
    hangs in progress are ended and the server stops; connections still open are given
    ``graceful_timeout`` seconds to finish.
    """
    mock_app = app if app is not None else create_app(config)
    serve = _serve_for_current_library()
    sock = _bind(host, port)
    bound_port = int(sock.getsockname()[1])
    hypercorn_config = _hypercorn_config(sock, graceful_timeout)
    stop = anyio.Event()

    async def run() -> None:
        await serve(mock_app, hypercorn_config, shutdown_trigger=stop.wait)

    # An error raised in the caller's block is re-raised as itself after the server
    # stopped, not wrapped in the task group's ExceptionGroup, so pytest.raises and
    # except clauses around the block see it as they expect.
    error: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(run)
        try:
            yield MockServer(_base_url(host, bound_port), mock_app, host, bound_port)
        except Exception as exc:
            error = exc
        finally:
            mock_app.abort_hangs()
            stop.set()
    if error is not None:
        raise error


def run_mock_server(
    host: str = "127.0.0.1",
    port: int = 8765,
    config: MockConfig | None = None,
    *,
    on_ready: Callable[[str], None] | None = None,
    graceful_timeout: float = 1.0,
) -> None:
    """Serve the mock until SIGINT or SIGTERM; blocks. For the command line and for
    benchmark peers in their own process.

    Runs hypercorn on asyncio, with uvloop when it is installed (the fastest loop for a
    server that does little but parse and answer). ``on_ready`` is called with the base
    URL once the socket is listening, which matters with ``port=0``.
    """
    app: Any = create_app(config)  # hypercorn's own ASGI types do not know Starlette's
    sock = _bind(host, port)
    base_url = _base_url(host, int(sock.getsockname()[1]))
    hypercorn_config = _hypercorn_config(sock, graceful_timeout)

    async def main() -> None:
        from hypercorn.asyncio import serve

        if on_ready is not None:
            on_ready(base_url)
        # With no shutdown trigger, hypercorn stops gracefully on SIGINT and SIGTERM.
        await serve(app, hypercorn_config)

    use_uvloop = importlib.util.find_spec("uvloop") is not None
    with suppress(KeyboardInterrupt):
        anyio.run(main, backend="asyncio", backend_options={"use_uvloop": use_uvloop})
