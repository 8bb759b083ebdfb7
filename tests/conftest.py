"""Every async test runs twice: on asyncio and on trio (anyio's pytest plugin)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
