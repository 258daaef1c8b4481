"""Labelled counters that the inputs and the pipeline increment from any thread, and the names they count.

Only what the inputs and the pipeline count themselves lives here (requests by input and status, rejected
spans, dropped spans); every other figure is read from the component that owns it when `/metrics` is scraped
(`server/metrics.py`), and written out by `server/prometheus.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

REQUESTS = "otel_honeyhive_requests_total"
"""Requests answered, by `input` (otlp_http, otlp_grpc, honeyhive_api, healthz, metrics, other) and `status`
(the HTTP status, or the gRPC status code name)."""
HOST_REFUSALS = "otel_honeyhive_host_refusals_total"
"""HTTP requests refused (403) for a `Host` the server does not answer to (DNS-rebinding check,
`server/hosts.py`); they count in `REQUESTS` too."""
SPANS_REJECTED = "otel_honeyhive_spans_rejected_total"
"""Spans refused inside an accepted OTLP request (unusable ids), by `input`; the client is told
(`partial_success`)."""
SPANS_DROPPED = "otel_honeyhive_spans_dropped_total"
"""Acknowledged spans whose events could not be handed on, by `reason`."""
SPANS_FILTERED = "otel_honeyhive_spans_filtered_total"
"""Spans the span filter dropped (their children re-attached to the nearest kept ancestor), by `reason`: `scope`,
`span_name`, `genai` (the preset did not recognise the span), `span_filter` (the predicate said so)."""
LOG_RECORDS_REJECTED = "otel_honeyhive_log_records_rejected_total"
"""Log records refused inside an accepted OTLP logs request (a trace or span id of the wrong length), by `input`;
the client is told (`partial_success`)."""

LOG_RECORDS_RECEIVED = "otel_honeyhive_log_records_received_total"
"""Log records handed to the pipeline (`Pipeline.accept_records`), GenAI or not."""
LOG_RECORDS_JOINED = "otel_honeyhive_log_records_joined_total"
"""GenAI records joined to their span before its event was mapped (they arrived first, or while it was held)."""
LOG_RECORDS_LATE = "otel_honeyhive_log_records_late_total"
"""GenAI records that came after their span's event was shipped: delivered as an update of that event."""
LOG_RECORDS_UNMATCHED = "otel_honeyhive_log_records_unmatched_total"
"""GenAI records whose span never came within the hold time (or the memory cap): kept in their session's
`metadata.unmatched_log_records`."""
LOG_RECORDS_IGNORED = "otel_honeyhive_log_records_ignored_total"
"""Records not turned into anything, by `reason`: `not_genai` (an ordinary log), `no_span` (a GenAI record
emitted outside any span), `unsampled` (a GenAI record of a span the sampler dropped), `span_filtered` (a GenAI
record that came after the span filter dropped its span)."""

LabelSet = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Mapping[str, str]
    value: float


class Counters:
    """Monotonic counters with labels, safe to increment from any thread (request handlers, gRPC workers,
    the intake's release thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[LabelSet, float]] = {}

    def add(self, name: str, amount: float = 1, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"a counter only goes up; got {amount!r} for {name}")
        key = tuple(sorted(labels.items()))
        with self._lock:
            family = self._values.setdefault(name, {})
            family[key] = family.get(key, 0) + amount

    def value(self, name: str, **labels: str) -> float:
        """The count for exactly these labels (0 if never counted)."""
        with self._lock:
            return self._values.get(name, {}).get(tuple(sorted(labels.items())), 0)

    def total(self, name: str) -> float:
        """The sum over every label set."""
        with self._lock:
            return sum(self._values.get(name, {}).values())

    def samples(self, name: str) -> list[Sample]:
        with self._lock:
            items = sorted(self._values.get(name, {}).items())
        return [Sample(dict(labels), value) for labels, value in items]


__all__ = [
    "HOST_REFUSALS",
    "LOG_RECORDS_IGNORED",
    "LOG_RECORDS_JOINED",
    "LOG_RECORDS_LATE",
    "LOG_RECORDS_RECEIVED",
    "LOG_RECORDS_REJECTED",
    "LOG_RECORDS_UNMATCHED",
    "REQUESTS",
    "SPANS_DROPPED",
    "SPANS_FILTERED",
    "SPANS_REJECTED",
    "Counters",
    "LabelSet",
    "Sample",
]
