"""Where every server input hands its data: spans are assembled by trace and mapped, events go to delivery.

The same trace assembly and mapping as the in-process exporter (spans/assembly.py, mapper/trace.py), so for the
same spans the receiver and the exporter produce identical events however the client batched them.

Durability: with a journal (`--spool-dir`), a request is acknowledged once every span in it is on disk, each
written once: the traces it completes as events, in the delivery spool; the spans left waiting for their
trace's root in the journal, removed only once the events they became are durably handed on (after a crash
they are replayed into the assembler). Without one, held spans live in memory (see the README's Guarantees).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from otel_honeyhive.encoded import batch_of
from otel_honeyhive.events import Event
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.metrics import SPANS_DROPPED, Counters
from otel_honeyhive.outputs.base import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.journal import Journal
from otel_honeyhive.spans.assembly import Trace, TraceAssembler
from otel_honeyhive.spans.view import SpanView

logger = logging.getLogger("otel_honeyhive.server")

RETRY_HELD_SECONDS = 2.0
"""How soon journaled spans whose hand-off failed (a full outbox) are tried again."""


@dataclass
class IntakeStats:
    spans_received: int = 0
    """Spans handed to `accept_spans` (decoded OTLP, from either protocol)."""
    events_received: int = 0
    """Events handed to `accept_events` (the HoneyHive-compatible API)."""
    events_mapped: int = 0
    """Events made from released traces (a trace mapped again after a failed hand-off counts again)."""


class Intake:
    """Thread-safe; shared by the OTLP/HTTP, OTLP/gRPC and HoneyHive-compatible inputs."""

    def __init__(
        self,
        delivery: Delivery,
        mapper: TraceMapper,
        assembler: TraceAssembler,
        *,
        journal: Journal | None = None,
        stop: threading.Event | None = None,
        reap_interval: float = 0.5,
        counters: Counters | None = None,
    ) -> None:
        """`counters`: shared with the inputs (requests, rejected spans); the intake adds dropped spans."""
        self.delivery = delivery
        self.mapper = mapper
        self.assembler = assembler
        self.journal = journal
        self.stop = stop or threading.Event()
        self.stats = IntakeStats()
        self.counters = counters or Counters()
        self._stats_lock = threading.Lock()
        self._map_lock = threading.Lock()
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap, args=(reap_interval,), name="intake-hold", daemon=True)

    @property
    def output_name(self) -> str:
        return self.delivery.output.name

    def start(self) -> None:
        """Replay spans journaled by a previous run, then start releasing traces that outlive the hold."""
        if self.journal is not None:
            for views in self.journal.replay():
                self._release(self.assembler.add(views))
        self._reaper.start()

    # -- inputs -----------------------------------------------------------------------------------------------

    def accept_spans(self, views: Sequence[SpanView]) -> SendResult:
        """Take decoded spans. With a journal, DELIVERED means they are on disk (whatever happens next);
        without one, that their released traces were delivered and the rest are held in memory."""
        with self._stats_lock:
            self.stats.spans_received += len(views)
        if not views:
            return DELIVERED
        full = self.delivery.backpressure()
        if full is not None:
            return full  # refuse before accepting anything: the client keeps the data and retries
        if self.journal is not None:
            return self._accept_journaled(self.journal, views)
        return self._release(self.assembler.add(views), answered=views)

    def _accept_journaled(self, journal: Journal, views: Sequence[SpanView]) -> SendResult:
        """Journal only the spans assembly will keep waiting: those of traces whose local root is not in this
        request. The rest are released now, and on disk once their events are in the delivery spool (writing
        them to the journal as well, as every span once was, cost a second encoding, write and fsync per
        request)."""
        completing = {view.trace_id for view in views if view.is_local_root}
        waiting = [view for view in views if view.trace_id not in completing]
        if waiting:
            written = journal.write(waiting)
            if not written.ok:
                return written  # full or unusable: refuse before accepting anything
        fresh = {id(view) for view in views if view.trace_id in completing}
        result = self._release(self.assembler.add(views), fresh=fresh)
        return DELIVERED if not fresh else result  # what is left in `fresh` is on disk nowhere

    def accept_events(self, events: list[Event]) -> SendResult:
        with self._stats_lock:
            self.stats.events_received += len(events)
        return self.delivery.submit_events(events, stop=self.stop)

    def accept_update(self, update: Update) -> SendResult:
        return self.delivery.submit_update(update, stop=self.stop)

    # -- mapping and hand-off ---------------------------------------------------------------------------------

    def _release(self, traces: list[Trace], answered: Sequence[SpanView] = (), fresh: set[int] | None = None
                 ) -> SendResult:
        """Map released traces and hand their events on. With a journal, spans whose events were handed on are
        forgotten by it, and a failed hand-off puts the spans back to be tried when the hold passes again.

        `answered`: the spans of the request waiting for this result (without a journal, a failure is the
        client's to retry for those; every other span in `traces` had been acknowledged, and is dropped).
        `fresh`: with a journal, the ids of the waiting request's spans that are not journaled (every other span
        in `traces` is); those that reach the disk (handed on, or journaled after all) are removed from it."""
        if not traces:
            return DELIVERED
        with self._map_lock:
            events = batch_of((self.mapper.map_trace(t) for t in traces), encode=self.delivery.takes_encoded)
        with self._stats_lock:
            self.stats.events_mapped += len(events)
        result = self.delivery.submit_events(events, stop=self.stop) if events else DELIVERED
        if self.journal is None:
            if not result.ok:
                waiting = {id(view) for view in answered}
                lost = sum(1 for trace in traces for view in trace if id(view) not in waiting)
                reason = "delivery_failed" if result.outcome is Outcome.RETRY_LATER else "refused"
                if lost:
                    self.counters.add(SPANS_DROPPED, lost, reason=reason)
                logger.warning("%d spans not delivered (%d of them acknowledged earlier, now dropped: %s): %s",
                               sum(len(t) for t in traces), lost, reason, result.detail)
            return result
        if result.ok:
            self.journal.released(traces)
            if fresh:
                fresh.difference_update(id(view) for trace in traces for view in trace)
        elif result.outcome is Outcome.RETRY_LATER and len(traces) > 1:
            # The outbox has less room than the whole batch needs: hand on what fits, trace by trace.
            for trace in traces:
                self._release([trace], fresh=fresh)
        elif result.outcome is Outcome.RETRY_LATER:
            self._hold_again(self.journal, traces, fresh)
        else:
            refused = sum(len(t) for t in traces)
            self.counters.add(SPANS_DROPPED, refused, reason="refused")
            logger.error("%d spans refused for good: %s", refused, result.detail)
            self.journal.released(traces)
        return result

    def _hold_again(self, journal: Journal, traces: list[Trace], fresh: set[int] | None) -> None:
        """The outbox is full: keep the traces to try again soon. Spans of the waiting request that were not
        journaled are journaled now, so that it can still be acknowledged; if even that fails, they are let go
        (they stay in `fresh`: the request is refused, and its client keeps them and retries)."""
        retry_in = min(self.assembler.hold_seconds, RETRY_HELD_SECONDS)
        unjournaled = [view for trace in traces for view in trace if fresh and id(view) in fresh]
        if unjournaled and fresh is not None:
            if journal.write(unjournaled).ok:
                fresh.difference_update(id(view) for view in unjournaled)
            else:
                traces = [kept for trace in traces if (kept := [view for view in trace if id(view) not in fresh])]
        self.assembler.hold_again(traces, retry_in=retry_in)

    def _reap(self, interval: float) -> None:
        while not self._closed.wait(interval):
            try:
                self._release(self.assembler.expired())
            except Exception:
                logger.exception("releasing held traces failed")

    def flush(self, timeout: float) -> bool:
        """Map and hand on everything held (a trace still missing its root is shipped in parts)."""
        result = self._release(self.assembler.drain())
        return self.delivery.flush(timeout) and result.ok

    def close(self, timeout: float) -> None:
        """Graceful shutdown: stop releasing, flush what can be flushed within `timeout`, keep the rest on disk."""
        self._closed.set()
        if self._reaper.is_alive():
            self._reaper.join(timeout=2)
        if self.journal is None:
            self._release(self.assembler.drain())  # in memory only: shipping it now is the best that can be done
        self.delivery.flush(timeout)  # a spooled delivery keeps on disk what it cannot ship in time
        self.delivery.close(timeout)
        if self.journal is not None:
            self.journal.close()
