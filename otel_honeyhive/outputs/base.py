"""What every output (HoneyHive, the local store, an OTLP endpoint) promises the shipping layer."""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from otel_honeyhive.events import Event


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY_LATER = "retry_later"  # a transient fault outlived the deadline: keep the data, try again later
    REJECTED = "rejected"  # the receiver refused the data for good (4xx other than 429): retrying cannot help


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    detail: str = ""
    retry_after: float | None = None  # seconds the receiver asked us to wait, when it said so
    status: int | None = None  # the receiver's HTTP status, when there was one

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED


DELIVERED = SendResult(Outcome.DELIVERED)


@dataclass(frozen=True, slots=True)
class Update:
    """A `PUT /events` patch: merged buckets (metadata, feedback, metrics, config, user_properties), replaced
    outputs, and plain fields (duration, end_time, children_ids)."""

    event_id: str
    fields: dict[str, Any]


class Output(Protocol):
    """A destination for events. `send` blocks until the batch is delivered, refused, or the deadline passed;
    `stop` (when given) interrupts any backoff wait so shutdown is never held up."""

    name: str

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult: ...

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult: ...

    def close(self) -> None: ...
