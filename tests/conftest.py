"""Every async test runs twice: on asyncio and on trio (anyio's pytest plugin).

The CLI commands configure structlog for the whole process (errors only, as a command
line should); each test ends by restoring structlog's defaults, so no test's outcome
depends on which command ran before it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _default_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
