"""Each cost test starts and ends with structlog's defaults: the CLI commands configure
logging globally (errors only), which would hide the warnings these tests look for, and
must not leak into other tests either."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _default_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
