"""Waiting for what another thread or process does: poll a condition until it holds, or fail the test saying
what was awaited, and what things looked like when the time ran out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_INTERVAL = 0.05


def wait_until(
    predicate: Callable[[], T], timeout: float, *, explain: str,
    diagnose: Callable[[], str] | None = None, interval: float = POLL_INTERVAL,
) -> T:
    """Poll `predicate` every `interval` seconds until it returns something truthy, and return that. After
    `timeout` seconds the test fails with "timed out after Ns waiting for <explain>", followed by what
    `diagnose` says then (a server's stderr, what had arrived so far), if given."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:g}s waiting for {explain}"
            if diagnose is not None:
                message += f"\n{diagnose()}"
            raise AssertionError(message)
        time.sleep(interval)
