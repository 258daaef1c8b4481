"""Trace assembly: hold spans by trace until the trace's local root has ended
(docs/identity-and-assembly.md#trace-assembly).

Modelled on the Collector's `groupbytrace` processor. Independent of where spans come from: the in-process
exporter and the OTLP receiver both feed it `SpanView`s. Holding is bounded in time (`hold_seconds`; long agent
traces outlive it and are released in parts) and in memory (`max_spans`; the oldest traces are released first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from otel_honeyhive.core.spans import SpanView

Trace = list[SpanView]


@dataclass
class _Held:
    spans: Trace
    since: float


@dataclass
class AssemblyStats:
    released_complete: int = 0
    released_expired: int = 0
    released_for_memory: int = 0
    released_on_flush: int = 0


class TraceAssembler:
    """Thread-safe. Every method returns the traces (lists of spans of one trace) that are ready to map."""

    def __init__(
        self, hold_seconds: float = 30.0, max_spans: int = 20_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if hold_seconds < 0:
            raise ValueError(f"hold_seconds must be >= 0, got {hold_seconds!r}")
        if max_spans < 1:
            raise ValueError(f"max_spans must be >= 1, got {max_spans!r}")
        self.hold_seconds = hold_seconds
        self.max_spans = max_spans
        self._clock = clock
        self._held: OrderedDict[int, _Held] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()
        self.stats = AssemblyStats()

    @property
    def held_spans(self) -> int:
        return self._count

    @property
    def clock(self) -> Callable[[], float]:
        """The clock hold times are measured on (records waiting for their span use it too)."""
        return self._clock

    def is_held(self, trace_id: int) -> bool:
        """Whether spans of this trace are waiting for their root (records for it wait with them)."""
        with self._lock:
            return trace_id in self._held

    def add(self, spans: Iterable[SpanView]) -> list[Trace]:
        """Hold `spans`; release every trace whose local root is among them, and the oldest traces when over
        the memory cap."""
        ready: list[Trace] = []
        now = self._clock()
        with self._lock:
            completed: list[int] = []
            for span in spans:
                held = self._held.get(span.trace_id)
                if held is None:
                    held = self._held[span.trace_id] = _Held([], now)
                held.spans.append(span)
                self._count += 1
                if span.is_local_root:
                    completed.append(span.trace_id)
            for trace_id in completed:
                held = self._held.pop(trace_id, None)
                if held is not None:
                    self._count -= len(held.spans)
                    ready.append(held.spans)
                    self.stats.released_complete += 1
            while self._count > self.max_spans and self._held:
                _, held = self._held.popitem(last=False)
                self._count -= len(held.spans)
                ready.append(held.spans)
                self.stats.released_for_memory += 1
        return ready

    def hold_again(self, traces: list[Trace], retry_in: float) -> None:
        """Put released spans back (their hand-off failed): released again by `expired()` in `retry_in` s."""
        now = self._clock() - self.hold_seconds + retry_in
        with self._lock:
            for trace in traces:
                if not trace:
                    continue
                held = self._held.get(trace[0].trace_id)
                if held is None:
                    held = self._held[trace[0].trace_id] = _Held([], now)
                held.spans.extend(trace)
                self._count += len(trace)

    def expired(self) -> list[Trace]:
        """Traces held longer than `hold_seconds`: released in part, their root still to come."""
        ready: list[Trace] = []
        limit = self._clock() - self.hold_seconds
        with self._lock:
            while self._held:
                trace_id, held = next(iter(self._held.items()))
                if held.since > limit:
                    break
                del self._held[trace_id]
                self._count -= len(held.spans)
                ready.append(held.spans)
                self.stats.released_expired += 1
        return ready

    def after_fork_in_child(self) -> None:
        """In a forked child: a fresh lock (the parent's may have been held at the fork) and an empty hold buffer,
        since the held spans are the parent's to ship; counts start from zero."""
        self._lock = threading.Lock()
        self._held = OrderedDict()
        self._count = 0
        self.stats = AssemblyStats()

    def drain(self) -> list[Trace]:
        """Everything held (force_flush / shutdown)."""
        with self._lock:
            ready = [held.spans for held in self._held.values()]
            self.stats.released_on_flush += len(ready)
            self._held.clear()
            self._count = 0
        return ready
