"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import otel_honeyhive
from tests.support.fake_honeyhive import FakeHoneyHive, fake_honeyhive
from tests.support.server import RunningServer, run_server

EXPECT_COMPILED = "OTEL_HONEYHIVE_EXPECT_COMPILED"
"""Set by `scripts/test` for its run against the compiled wheel: the run fails if it is not what it tests."""


def pytest_report_header() -> str:
    build = "compiled (mypyc)" if otel_honeyhive.compiled() else "pure Python"
    return f"otel_honeyhive: {build}, from {Path(otel_honeyhive.__file__).parent}"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(EXPECT_COMPILED) == "1" and not otel_honeyhive.compiled():
        raise pytest.UsageError(f"{EXPECT_COMPILED}=1 but otel_honeyhive is pure Python here: "
                                f"{otel_honeyhive.__file__}")


@pytest.fixture
def local_api(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh bridge server (a real subprocess) with an empty local store, stopped after the test."""
    with run_server(tmp_path) as server:
        yield server


@pytest.fixture
def honeyhive() -> Iterator[FakeHoneyHive]:
    """A fake HoneyHive (a real HTTP server in this process) answering 200 unless told otherwise."""
    with fake_honeyhive() as server:
        yield server
