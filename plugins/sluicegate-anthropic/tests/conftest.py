"""Shared fixtures for the Anthropic provider's tests.

Every async test runs twice, on asyncio and on trio (anyio's pytest plugin reads the
``anyio_backend`` fixture). The recorded streams in ``data/`` follow the event sequences
Anthropic documents and its SDK's types describe; a test validates them against those
types, so they cannot drift from the real wire format unnoticed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

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


# The hypothesis profiles of tests/conftest.py, for when these tests run on their own:
# SLUICEGATE_HYPOTHESIS_PROFILE=issue10 runs the decoder property tests at 10,000
# examples per test (issue 10).
settings.register_profile("issue10", max_examples=10_000, deadline=None)
if os.environ.get("SLUICEGATE_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["SLUICEGATE_HYPOTHESIS_PROFILE"])
