"""Every async test runs twice: on asyncio and on trio (anyio's pytest plugin).

The CLI commands configure structlog for the whole process (errors only, as a command
line should); each test ends by restoring structlog's defaults, so no test's outcome
depends on which command ran before it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import settings


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _default_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


# Hypothesis profiles: the default keeps the suite fast; "issue10" runs the decoder
# property tests at the 10,000 examples per test that issue 10 asks for. Select one with
# SLUICEGATE_HYPOTHESIS_PROFILE=issue10 (or pytest's --hypothesis-profile=issue10).
settings.register_profile("issue10", max_examples=10_000, deadline=None)
if os.environ.get("SLUICEGATE_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["SLUICEGATE_HYPOTHESIS_PROFILE"])

# No test reads a config file it did not write: a sluicegate.toml in a developer's
# ~/.config (which the command line would find) must not change the suite's results.
os.environ["SLUICEGATE_CONFIG"] = ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests parametrised over transports list aiohttp, which runs on asyncio only: their
    trio case of it is deselected (not skipped: nothing is missing), except in a test
    marked ``aiohttp_on_trio``, which checks that the combination is refused."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            params.get("transport") == "aiohttp"
            and params.get("anyio_backend") == "trio"
            and item.get_closest_marker("aiohttp_on_trio") is None
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
