"""Fixtures of the reliability suite (its figures are printed by `tests/conftest.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.figures import FIGURES
from tests.support.server import RunningServer, start_server


class Servers:
    """Starts bridge servers for one test and, at its end, stops the ones still running and counts as a crash
    any that exited on its own or did not stop cleanly (a deliberate `kill -9` is not a crash)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[RunningServer] = []

    def start(self, *args: str, **options: object) -> RunningServer:
        server = start_server(self.tmp_path, *args, **options)  # type: ignore[arg-type]
        self.started.append(server)
        FIGURES.servers_started += 1
        return server

    def close(self) -> list[RunningServer]:
        crashed = []
        for server in self.started:
            if server.stopped_by is None:
                server.stop()
            if server.crashed:
                crashed.append(server)
        FIGURES.server_crashes += len(crashed)
        return crashed


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    pool = Servers(tmp_path)
    yield pool
    crashed = pool.close()
    assert not crashed, "a server crashed:\n" + "\n".join(s.stderr() for s in crashed)

