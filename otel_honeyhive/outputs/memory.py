"""Events (and updates) kept in memory until they are taken: the output `convert` and `replay` read a file's
events from, as the pipeline makes them."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import DELIVERED, SendResult, Update


class MemoryOutput:
    """Thread-safe. Unbounded: whoever sends to it takes the events (and the updates) after every hand-off."""

    name = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._updates: list[Update] = []

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        with self._lock:
            self._events.extend(events)
        return DELIVERED

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        with self._lock:
            self._updates.append(update)
        return DELIVERED

    def take(self) -> list[Event]:
        """The events sent since the last `take`, in the order they were sent."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def take_updates(self) -> list[Update]:
        """The updates sent since the last `take_updates` (`sessions="conversation"`: later turns extending their
        session), in the order they were sent."""
        with self._lock:
            updates, self._updates = self._updates, []
        return updates

    def close(self) -> None:
        pass


__all__ = ["MemoryOutput"]
