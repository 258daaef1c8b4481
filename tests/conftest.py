"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, run_server


@pytest.fixture
def local_api(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh bridge server (a real subprocess) with an empty local store, stopped after the test."""
    with run_server(tmp_path) as server:
        yield server
