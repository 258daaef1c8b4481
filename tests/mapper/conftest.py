from __future__ import annotations

import pytest

from tests.mapper.otel import Otel


@pytest.fixture
def otel() -> Otel:
    """A fresh tracer provider recording real SDK spans in memory."""
    return Otel()
