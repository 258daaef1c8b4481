"""The two seams between layers: what an input hands data to (`Sink`: the pipeline), and what delivery hands
events to (`Output`: HoneyHive, the local store, an OTLP endpoint)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import SendResult, Update
from otel_honeyhive.core.spans import SpanView


class Sink(Protocol):
    """Where inputs hand what they received (the `Pipeline`). Blocking calls: HTTP inputs run them off the
    event loop. None raises; every failure is a `SendResult` the input turns into its protocol's answer."""

    @property
    def output_name(self) -> str: ...

    def accept_spans(self, spans: Sequence[SpanView]) -> SendResult: ...

    def accept_events(self, events: list[Event]) -> SendResult: ...

    def accept_update(self, update: Update) -> SendResult: ...

    def accept_records(self, records: Sequence[LogRecordView]) -> SendResult:
        """Log records (the OTLP logs receiver, the in-process log exporter): GenAI ones join the events of the
        spans they name; the others are counted."""
        ...


class Output(Protocol):
    """A destination for events. `send` blocks until the batch is delivered, refused, or the deadline passed;
    `stop` (when given) interrupts any backoff wait so shutdown is never held up."""

    name: str

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult: ...

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult: ...

    def close(self) -> None: ...
