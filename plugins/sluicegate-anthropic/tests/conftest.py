"""Shared fixtures for the Anthropic provider's tests.

Every async test runs twice, on asyncio and on trio (anyio's pytest plugin reads the
``anyio_backend`` fixture). The recorded streams in ``data/`` follow the event sequences
Anthropic documents and its SDK's types describe; a test validates them against those
types, so they cannot drift from the real wire format unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sluicegate_anthropic.codec import AnthropicProvider

DATA = Path(__file__).parent / "data"


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def codec() -> AnthropicProvider:
    return AnthropicProvider("https://api.anthropic.com", {})


@pytest.fixture
def recorded() -> Callable[[str], bytes]:
    """The bytes of a recorded stream in ``data/``, by file name without ``.sse``."""

    def load(name: str) -> bytes:
        return (DATA / f"{name}.sse").read_bytes()

    return load
