from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel.helpers import Recorder


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.shutdown()
