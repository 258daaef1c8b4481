"""The one pipeline every input hands its data to: spans are assembled by trace and mapped, events delivered.

The in-process exporter, the OTLP receiver (HTTP and gRPC), the HoneyHive-compatible API and the file commands
(`convert`, `replay`) all go through a `Pipeline`, so for the same spans they produce identical events however
their clients batched them, and every behaviour of the path (the hold time, flushing, shutdown) lives here once.
Build one with `build_pipeline` (pipeline/build.py); see docs/architecture.md. GenAI log records
(`accept_records`) are joined to their spans' events by the pipeline's `RecordJoining` (pipeline/joining.py),
which works under the pipeline's mapping lock; this module is the span path and the pipeline's lifecycle.

Durability: with a journal (the server's `--spool-dir`), spans are acknowledged once every one of them is on
disk, each written once: the traces a request completes as events, in the delivery spool; the spans left waiting
for their trace's root in the journal, removed only once the events they became are durably handed on (after a
crash they are replayed into the assembler). GenAI log records left waiting for their span are journaled the same
way (pipeline/joining.py) and replayed into the joiner. Without one, held spans and records live in memory
(docs/delivery.md).

Processes (docs/delivery.md#forks-and-exits): every pipeline is tracked by the process hooks
(pipeline/processes.py). After a fork the child's copy is made usable (`after_fork_in_child`: fresh locks, an
empty hold buffer, its own threads, spool segment and connections); when the process exits without `close()` (a
script, a `multiprocessing` or Celery child), what is held is handed on (`drain_at_exit`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from otel_honeyhive.core.counters import LOG_RECORDS_RECEIVED, SPANS_DROPPED, SPANS_FILTERED, Counters
from otel_honeyhive.core.encoded import batch_of
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.pipeline.assembly import Trace, TraceAssembler
from otel_honeyhive.pipeline.joining import RecordJoining
from otel_honeyhive.pipeline.masking import Masker, note_masked
from otel_honeyhive.pipeline.processes import track
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.journal import Journal, Journaled
from otel_honeyhive.shipping.spool import SpoolError

logger = logging.getLogger("otel_honeyhive.pipeline")

RETRY_HELD_SECONDS = 2.0
"""How soon journaled spans whose hand-off failed (a full outbox) are tried again."""

EXIT_SHIP_SECONDS = 2.0
"""How long a spooled pipeline waits, at an exit without `close()`, for its spool to ship what it holds: in all,
whichever exit hooks wait (the pipeline's own, then the SDK's `shutdown()` of the exporter)."""

ADOPT_JOURNAL_SECONDS = 5.0
"""How often a pipeline with a journal looks for the journal segments of processes that are gone (a server killed
while another runs on the same spool directory), as a shipper does for its spool (`shipper.ADOPT_INTERVAL`)."""

DEFAULT_EXIT_TIMEOUT = 10.0
"""How long, by default, a process exiting without `close()` spends handing on what a pipeline holds."""


@dataclass
class PipelineStats:
    spans_received: int = 0
    """Spans handed to `accept_spans`."""
    events_received: int = 0
    """Events handed to `accept_events` (the HoneyHive-compatible API)."""
    events_mapped: int = 0
    """Events made from released traces (a trace mapped again after a failed hand-off counts again)."""
    events_delivered: int = 0
    """Mapped events whose hand-off delivery accepted: delivered, or durable in the spool."""
    events_failed: int = 0
    """Mapped events whose hand-off failed (the caller was told, or the spans count as dropped)."""


def release_interval(hold_seconds: float) -> float:
    """How often held traces are checked against the hold time: often enough that a trace is released within
    a quarter of its hold time (and within half a second), rarely enough to cost nothing."""
    return max(0.05, min(0.5, hold_seconds / 4))


class Pipeline:
    """Assemble → map → deliver, with the thread that releases traces outliving the hold time. Thread-safe;
    implements `core.protocols.Sink`. Nothing here raises into a caller: every failure is a `SendResult`."""

    def __init__(
        self,
        delivery: Delivery,
        mapper: TraceMapper,
        assembler: TraceAssembler,
        *,
        journal: Journal | None = None,
        stop: threading.Event | None = None,
        counters: Counters | None = None,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
        masker: Masker | None = None,
    ) -> None:
        """Prefer `build_pipeline`. The pipeline owns (and closes) the delivery and the journal. `stop`, set by
        whoever runs the pipeline (a signal handler, `close`), cuts short any backoff a hand-off waits in.
        `counters`: shared with the inputs (requests, rejected spans); the pipeline adds dropped spans.
        `exit_timeout`: the bound on `drain_at_exit`. `masker`: masks every span, record, event and update as
        it enters, before anything is journaled or mapped (pipeline/masking.py); None costs nothing."""
        self.delivery = delivery
        self.mapper = mapper
        self.assembler = assembler
        self.journal = journal
        self.stop = stop or threading.Event()
        self.stats = PipelineStats()
        self.counters = counters or Counters()
        self.exit_timeout = exit_timeout
        self.masker = masker
        self._stats_lock = threading.Lock()
        self._map_lock = threading.Lock()
        self._closed = threading.Event()
        self._releaser: threading.Thread | None = None
        self._exit_deadline: float | None = None
        """When `drain_at_exit` ran: the end of the spool's `EXIT_SHIP_SECONDS`, which a `close()` after it (the
        SDK's own exit hook) does not wait past."""
        self.joining = RecordJoining(mapper, assembler, lock=self._map_lock, counters=self.counters,
                                     submit=self._submit_updates, masker=masker, journal=journal)
        """The GenAI log records waiting for their spans, and those kept on their sessions (pipeline/joining.py)."""
        mapper.on_filtered = self._count_filtered
        mapper.on_unrouted = self._count_unrouted
        track(self)

    def _count_filtered(self, counts: Mapping[str, int]) -> None:
        """The mapper's span filter dropped spans (mapped under the mapping lock: counted as they are dropped)."""
        for reason, count in counts.items():
            self.counters.add(SPANS_FILTERED, count, reason=reason)

    def _count_unrouted(self, spans: int) -> None:
        """The routing table refused a trace (no rule matched, `unrouted = "refuse"`; docs/routing.md)."""
        self.counters.add(SPANS_DROPPED, spans, reason="unrouted")

    @property
    def output_name(self) -> str:
        return self.delivery.output.name

    @property
    def held_spans(self) -> int:
        return self.assembler.held_spans

    def start(self, *, release_expired: bool = True) -> None:
        """Replay the spans and log records journaled by a previous run; then, unless `release_expired` is False
        (a file has no clock), start releasing traces that outlive the hold time."""
        if self.journal is not None:
            for entry in self.journal.replay():
                self._take_journaled(entry)
        if release_expired and self._releaser is None:
            self._start_releaser()

    def _start_releaser(self) -> None:
        interval = release_interval(self.assembler.hold_seconds)
        self._releaser = threading.Thread(
            target=self._release_expired, args=(interval,), name="otel-honeyhive-hold", daemon=True
        )
        self._releaser.start()

    # -- inputs -----------------------------------------------------------------------------------------------

    def accept_spans(self, views: Sequence[SpanView]) -> SendResult:
        """Take spans. With a journal, DELIVERED means they are on disk (whatever happens next); without one,
        that the traces they completed were delivered (or durably spooled) and the rest are held in memory."""
        with self._stats_lock:
            self.stats.spans_received += len(views)
        if not views:
            return DELIVERED
        if self._closed.is_set():
            return SendResult(Outcome.RETRY_LATER, "the pipeline is closed (shutting down)")
        if self.masker is not None:
            views = self.masker.spans(views)  # before the journal: nothing unmasked is ever written
        if self.journal is not None:
            full = self.delivery.backpressure()
            if full is not None:
                return full  # refuse before accepting anything: the client keeps the data and retries
            return self._accept_journaled(self.journal, views)
        return self._release(self.assembler.add(views), answered=views)

    def _accept_journaled(self, journal: Journal, views: Sequence[SpanView]) -> SendResult:
        """Journal only the spans assembly will keep waiting: those of traces whose local root is not in this
        request. The rest are released now, and on disk once their events are in the delivery spool (writing
        them to the journal as well would cost a second encoding, write and fsync per request)."""
        completing = {view.trace_id for view in views if view.is_local_root}
        waiting = [view for view in views if view.trace_id not in completing]
        if waiting:
            written = journal.write(waiting)
            if not written.ok:
                return written  # full or unusable: refuse before accepting anything
        fresh = {id(view) for view in views if view.trace_id in completing}
        result = self._release(self.assembler.add(views), fresh=fresh)
        return DELIVERED if not fresh else result  # what is left in `fresh` is on disk nowhere

    def _take_journaled(self, entry: Journaled) -> None:
        """Spans or log records journaled by an earlier run (or a process that is gone), held again as if they
        came now: already on disk, so nothing is written again."""
        if entry.records:
            self.joining.restore(entry.records)
        if entry.spans:
            self._release(self.assembler.add(entry.spans))

    def accept_events(self, events: list[Event]) -> SendResult:
        with self._stats_lock:
            self.stats.events_received += len(events)
        if self.mapper.router is not None:
            refused = self.mapper.router.unkeyed(events)
            if refused is not None:  # refused now: spooled, it would hold up the queue as a wrong key does
                return refused
        if self.masker is not None:
            events = self.masker.events(events)
        return self.delivery.submit_events(events, stop=self.stop)

    def accept_update(self, update: Update) -> SendResult:
        if self.masker is not None:
            update = self.masker.update(update)
        return self.delivery.submit_update(update, stop=self.stop)

    def expect_records(self) -> None:
        """Log records will come (a logs input is attached): remember shipped spans from now on, so that a record
        arriving after its span's event was shipped becomes an update of it. Idempotent."""
        self.joining.expected = True

    def accept_records(self, records: Sequence[LogRecordView]) -> SendResult:
        """Take log records (docs/mapping.md#genai-content-in-log-records). GenAI records join their span: held
        until it comes (bounded by the hold time and a memory cap), or, when its event was already shipped, sent
        as an update of that event; one whose span never comes is kept in its session's metadata. Ordinary logs
        are counted and dropped. DELIVERED once the records are held or handed on; a failed update is the
        caller's to retry only when every record of the call was late (an update sent twice is the same update).
        The joining is `self.joining`'s (pipeline/joining.py); the closed check and masking are the pipeline's."""
        try:
            self.counters.add(LOG_RECORDS_RECEIVED, len(records))
            if not records:
                return DELIVERED
            if self._closed.is_set():
                return SendResult(Outcome.RETRY_LATER, "the pipeline is closed (shutting down)")
            if self.masker is not None:
                records = self.masker.records(records)  # before the journal: nothing unmasked is ever written
            if self.journal is not None:
                full = self.delivery.backpressure()
                if full is not None:
                    return full  # refuse before accepting anything, as for spans
            return self.joining.accept(records)
        except Exception as exc:  # never into a caller
            logger.exception("otel-honeyhive: accepting log records failed")
            return SendResult(Outcome.RETRY_LATER, f"accepting log records failed: {type(exc).__name__}: {exc}")

    def _submit_updates(self, updates: Sequence[Update | None], what: str = "from log records") -> SendResult:
        """Hand updates on; the first failure is the result, logged in one line for the whole call (a flood of
        records must not become a flood of lines)."""
        result = DELIVERED
        failed = 0
        first = ""
        for update in updates:
            if update is None:
                continue
            sent = self.delivery.submit_update(update, stop=self.stop)
            if not sent.ok:
                failed += 1
                if result.ok:
                    result, first = sent, update.event_id
        if failed == 1:
            logger.warning("otel-honeyhive: update of event %s %s not delivered: %s", first, what, result.detail)
        elif failed:
            logger.warning("otel-honeyhive: %d updates %s not delivered (the first, of event %s: %s)", failed, what,
                           first, result.detail)
        return result

    # -- mapping and hand-off ---------------------------------------------------------------------------------

    def _release(self, traces: list[Trace], answered: Sequence[SpanView] = (), fresh: set[int] | None = None
                 ) -> SendResult:
        """Map released traces and hand their events on. With a journal, spans whose events were handed on are
        forgotten by it, and a failed hand-off puts the spans back to be tried when the hold passes again.

        `answered`: the spans of the request waiting for this result (without a journal, a failure is the
        caller's to handle for those; every other span in `traces` had been acknowledged, and is dropped).
        `fresh`: with a journal, the ids of the waiting request's spans that are not journaled (every other span
        in `traces` is); those that reach the disk (handed on, or journaled after all) are removed from it."""
        if not traces:
            return DELIVERED
        hand_off = self.joining.hand_off()
        encode, shape = self.delivery.takes_encoded, self.delivery.event_shape
        with self._map_lock:
            if hand_off is None and self.masker is not None:
                events = batch_of((self._map_masked(t) for t in traces), encode=encode, shape=shape)
            elif hand_off is None:  # no logs input: the path as it always was
                events = batch_of((self.mapper.map_trace(t) for t in traces), encode=encode, shape=shape)
            else:
                events = batch_of((self.joining.map_trace(t, hand_off) for t in traces), encode=encode, shape=shape)
            conversations = self.mapper.conversations
            sessions = self.mapper.take_updates() if conversations is not None else []
            opened = conversations.take_opened() if conversations is not None else []
        result = self.delivery.submit_events(events, stop=self.stop) if events else DELIVERED
        failed = result.failed_of(len(events))  # a partial refusal names the only events not delivered
        handed = failed < len(events) or not events
        if sessions and handed:  # later turns extend their conversation's session (mapped again on a retry)
            self._submit_updates(sessions, "extending its conversation's session")
        if opened and not handed and conversations is not None:  # the session events were not received
            with self._map_lock:
                conversations.forget_opened(opened)
        if hand_off is not None:
            self.joining.settle(hand_off, handed)
        # Not delivered: the events a partial refusal named, or (a direct send that failed after some of its
        # bodies went through) those its acknowledged bodies did not carry.
        delivered = len(events) - failed if result.ok or result.refused else min(result.acknowledged, len(events))
        with self._stats_lock:
            self.stats.events_mapped += len(events)
            self.stats.events_delivered += delivered
            self.stats.events_failed += len(events) - delivered
        if self.journal is None:
            if not result.ok:
                self._count_dropped(traces, len(events), delivered, answered, result)
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
            if result.refused:  # the others were delivered
                refused = min(refused, len(result.refused))
            self.counters.add(SPANS_DROPPED, refused, reason="refused")
            logger.error("%d spans refused for good: %s", refused, result.detail)
            self.journal.released(traces)
        return result

    def _map_masked(self, trace: Trace) -> list[Event]:
        """Map a trace of masked spans: the replacements each span counted go into its event's metadata."""
        events = self.mapper.map_trace(trace)
        note_masked(trace, events)
        return events

    def _count_dropped(
        self, traces: list[Trace], events: int, delivered: int, answered: Sequence[SpanView], result: SendResult
    ) -> None:
        """Without a journal, spans acknowledged earlier (held, then released) whose hand-off failed are lost:
        count and log them. The spans of the waiting call are its caller's to retry or report."""
        waiting = {id(view) for view in answered}
        lost = sum(1 for trace in traces for view in trace if id(view) not in waiting)
        if result.refused:  # a partial refusal: at most its events' spans are lost
            lost = min(lost, len(result.refused))
        reason = "delivery_failed" if result.outcome is Outcome.RETRY_LATER else "refused"
        if lost:
            self.counters.add(SPANS_DROPPED, lost, reason=reason)
        undelivered = f"{events - delivered} of {events}" if delivered else f"{events}"
        if lost:
            logger.warning("otel-honeyhive: %s events not delivered (%d %s acknowledged earlier dropped: %s): %s",
                           undelivered, lost, "span" if lost == 1 else "spans", reason, result.detail)
        else:
            logger.warning("otel-honeyhive: %s events not delivered: %s", undelivered, result.detail)

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

    def _release_expired(self, interval: float) -> None:
        adopted_at = time.monotonic()  # the journal adopted at start (opening it did), and `start` replayed that
        while not self._closed.wait(interval):
            try:
                self._release(self.assembler.expired())
                self.joining.expire()
                if self.journal is not None and time.monotonic() - adopted_at >= ADOPT_JOURNAL_SECONDS:
                    adopted_at = time.monotonic()
                    self._adopt_journal(self.journal)
            except Exception:
                logger.exception("otel-honeyhive: releasing held traces failed")

    def _adopt_journal(self, journal: Journal) -> None:
        """Take over the held spans of processes that are gone and hold them as this process's own, as a start
        replays its journal: without this, a server killed beside a live one would keep its held spans until the
        next start on the directory."""
        try:
            adopted = journal.adopt()
        except SpoolError as exc:
            logger.error("otel-honeyhive: %s", exc)
            return
        for entry in adopted:
            self._take_journaled(entry)

    # -- processes --------------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def after_fork_in_child(self) -> None:
        """Make the child's copy usable (called by the fork hook, in the child, with only the forking thread
        alive): new locks and events (the parent's may have been held by a thread that does not exist here), an
        empty hold buffer (the held spans are the parent's to ship, never twice), zeroed stats and counters,
        then the delivery's own reset and a running release thread if the parent had one. A closed pipeline stays
        closed. The journal (the server's, which never forks) is left as it is."""
        closed, stopped = self._closed.is_set(), self.stop.is_set()
        self._exit_deadline = None
        self._stats_lock = threading.Lock()
        self._map_lock = threading.Lock()
        self._closed = threading.Event()
        self.stop = threading.Event()
        if closed:
            self._closed.set()
        if stopped:
            self.stop.set()
        self.stats = PipelineStats()
        self.counters = Counters()
        self.joining.after_fork_in_child(lock=self._map_lock, counters=self.counters)
        if self.mapper.router is not None:  # its lock may have been held by a thread of the parent's
            self.mapper.router.after_fork_in_child()
        if self.mapper.conversations is not None:
            self.mapper.conversations.after_fork_in_child()
        if closed:
            return
        self.assembler.after_fork_in_child()
        self.delivery.after_fork_in_child()
        if self._releaser is not None:
            self._start_releaser()

    def drain_at_exit(self) -> None:
        """The process is exiting without `close()`: hand on everything held, as `close()` would (a direct
        delivery sends it within the output's deadline; a spooled one writes it to disk), then give a spool up to
        `EXIT_SHIP_SECONDS` to ship it: a record left mid-send when the process dies is sent again by whoever
        adopts it, a duplicate (seen with Celery, which kills a recycled child right after its exit hooks).
        What is still on disk then is for a live process or the next start. Nothing is closed: a later
        `shutdown()` still works, and waits for the spool only for what is left of those seconds."""
        if self._closed.is_set() or self.journal is not None:
            return  # journaled spans are on disk already; the next start replays them
        self._release(self.assembler.drain())
        self.joining.expire(everything=True, final=True)
        wait = min(self.exit_timeout, EXIT_SHIP_SECONDS)
        self._exit_deadline = time.monotonic() + wait
        self.delivery.flush(wait)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Map and hand on everything held (a trace still missing its root is shipped in parts), then wait up to
        `timeout` seconds for a spooled delivery to empty its spool. True when everything was delivered."""
        result = self._release(self.assembler.drain())
        self.joining.expire(everything=True)
        return self.delivery.flush(timeout) and result.ok

    def close(self, timeout: float, *, spool_seconds: float | None = None) -> None:
        """Shut down: stop releasing, cut backoffs short, hand on what is held in memory (journaled spans stay
        on disk for the next start), give a spooled delivery up to `spool_seconds` (default: `timeout`) to
        empty its spool (what it cannot ship stays on disk), and close delivery, output and journal. After
        `drain_at_exit` (the process is exiting) the spool gets only what is left of that drain's wait: an outage
        costs an exit `EXIT_SHIP_SECONDS` once, not once per exit hook. Idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.stop.set()
        if self._releaser is not None and self._releaser.is_alive():
            self._releaser.join(timeout=2)
        try:
            if self.journal is None:
                self._release(self.assembler.drain())  # in memory only: shipping it now is the best there is
                self.joining.expire(everything=True, final=True)
            else:  # records still waiting for their span stay journaled, as held spans do
                self.joining.expire(final=True)
            drain = timeout if spool_seconds is None else spool_seconds
            if self._exit_deadline is not None:
                drain = min(drain, self._exit_deadline - time.monotonic())
            if drain > 0:
                self.delivery.flush(drain)
        finally:
            self.delivery.close(timeout)
            if self.journal is not None:
                self.journal.close()


__all__ = [
    "ADOPT_JOURNAL_SECONDS",
    "DEFAULT_EXIT_TIMEOUT",
    "EXIT_SHIP_SECONDS",
    "RETRY_HELD_SECONDS",
    "Pipeline",
    "PipelineStats",
    "release_interval",
]
