"""The commands configure structlog globally (errors only, as the CLI does); undo it after
each test, so later tests that capture log events see them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
