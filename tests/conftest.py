"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

import otel_honeyhive
from tests.reliability.figures import FIGURES
from tests.support.fake_honeyhive import FakeHoneyHive, fake_honeyhive
from tests.support.server import RunningServer, run_server

EXPECT_COMPILED = "OTEL_HONEYHIVE_EXPECT_COMPILED"
"""Set by `scripts/test` for its run against the compiled wheel: the run fails if it is not what it tests."""

# Hypothesis profiles: how many examples each property test tries. No test sets its own count.
# - dev (the default): quick, for the inner loop (`scripts/test -q`, a bare `pytest`). Failures it finds are
#   kept in .hypothesis/ and tried first on the next run.
# - ci: thorough, for the full run (`scripts/test` passes --hypothesis-profile=ci; or HYPOTHESIS_PROFILE=ci).
#   200 examples each: more in all than the counts the tests used to set one by one (5,490 over 33 tests, 166
#   on average, from 50 to 400). No example database: every CI run draws afresh instead of replaying a local
#   history, and a failure prints the blob that reproduces it (@reproduce_failure).
# Most property tests drive I/O (servers, spools, files), whose time varies: no deadline in either.
settings.register_profile("dev", max_examples=20, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_report_header() -> str:
    build = "compiled (mypyc)" if otel_honeyhive.compiled() else "pure Python"
    return f"otel_honeyhive: {build}, from {Path(otel_honeyhive.__file__).parent}"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(EXPECT_COMPILED) == "1" and not otel_honeyhive.compiled():
        raise pytest.UsageError(f"{EXPECT_COMPILED}=1 but otel_honeyhive is pure Python here: "
                                f"{otel_honeyhive.__file__}")


# The reliability suite's figures (tests/reliability/figures.py): a pytest-xdist worker hands its own to the
# controller when it finishes, and the process that prints the summary prints them all.
_FIGURES_KEY = "reliability_figures"


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_FIGURES_KEY] = pickle.dumps(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    data = getattr(node, "workeroutput", {}).get(_FIGURES_KEY)
    if data is not None:
        FIGURES.merge(pickle.loads(data))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES.empty:
        return
    terminalreporter.section("reliability figures")
    for line in FIGURES.lines():
        terminalreporter.write_line(line)


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
