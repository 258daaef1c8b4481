"""In-process doubles for pipeline tests: an output that keeps what it is sent, and a clock the test moves."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update


class Clock:
    """Seconds, moved by the test (`clock.now += 31`)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording:
    """An output keeping what it is sent, applying updates as HoneyHive does (`Update.apply_to`); `down` makes
    every send a failure to retry later."""

    name = "recording"

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}
        self.updates: list[Update] = []
        self.down = False

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        if self.down:
            return SendResult(Outcome.RETRY_LATER, "down for the test")
        for event in events:
            self.events[event["event_id"]] = dict(event)
        return DELIVERED

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        if self.down:
            return SendResult(Outcome.RETRY_LATER, "down for the test")
        self.updates.append(update)
        if update.event_id in self.events:
            self.events[update.event_id] = update.apply_to(self.events[update.event_id])
        return DELIVERED

    def close(self) -> None:
        pass


__all__ = ["Clock", "Recording"]
