"""The one pipeline every input hands its data to: spans are assembled by trace and mapped, events delivered.

The in-process exporter, the OTLP receiver (HTTP and gRPC), the HoneyHive-compatible API and the file commands
(`convert`, `replay`) all go through a `Pipeline`, so for the same spans they produce identical events however
their clients batched them, and every behaviour of the path (the hold time, flushing, shutdown) lives here once.
Build one with `build_pipeline` (pipeline/build.py); see docs/architecture.md.

Durability: with a journal (the server's `--spool-dir`), spans are acknowledged once every one of them is on
disk, each written once: the traces a request completes as events, in the delivery spool; the spans left waiting
for their trace's root in the journal, removed only once the events they became are durably handed on (after a
crash they are replayed into the assembler). Without one, held spans live in memory (docs/delivery.md).

Processes (docs/delivery.md#forks-and-exits): every pipeline is tracked by the process hooks
(pipeline/processes.py). After a fork the child's copy is made usable (`after_fork_in_child`: fresh locks, an
empty hold buffer, its own threads, spool segment and connections); when the process exits without `close()` (a
script, a `multiprocessing` or Celery child), what is held is handed on (`drain_at_exit`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_honeyhive.core.counters import (
    LOG_RECORDS_IGNORED,
    LOG_RECORDS_JOINED,
    LOG_RECORDS_LATE,
    LOG_RECORDS_RECEIVED,
    LOG_RECORDS_UNMATCHED,
    SPANS_DROPPED,
    SPANS_FILTERED,
    Counters,
)
from otel_honeyhive.core.encoded import batch_of
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.log_records import apply_evaluations, join, kind_of, late_update_fields, record_summary
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.pipeline.assembly import Trace, TraceAssembler
from otel_honeyhive.pipeline.masking import Masker, note_masked, with_record_counts
from otel_honeyhive.pipeline.processes import track
from otel_honeyhive.pipeline.records import (
    RecordJoiner,
    SessionKey,
    Shipped,
    ShippedFields,
    SpanKey,
    content_size,
    shipped_of,
    span_events,
)
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.journal import Journal
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

UNMATCHED_KEY = "unmatched_log_records"
"""The session's metadata key holding GenAI records whose span never came."""
MAX_UNMATCHED_PER_SESSION = 100
"""Records kept per session under `UNMATCHED_KEY` (an update merges metadata key by key, so the whole list is
sent each time; past this, further records are counted and not kept)."""
MAX_UNMATCHED_SESSIONS = 256
"""Sessions whose unmatched records are remembered (to be sent whole again when another comes for one)."""
MAX_UNMATCHED_BYTES = 16 << 20
"""The content of the unmatched records remembered, at most (`content_size`); past it the oldest sessions'
lists are forgotten (sent first, when they were waiting for their session)."""
RECORD_WAIT_FACTOR = 10
"""A GenAI record waits for its span this many times the hold time (5 minutes by default): a record is emitted
while its model call runs, and the call's span comes only when it ends, which for a long call (a reasoning model,
a long stream) is later than the hold time after the record."""


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


@dataclass
class _Joining:
    """What one hand-off took from the records waiting, and the spans it would ship (see `Pipeline._settle`)."""

    taken: list[LogRecordView] = field(default_factory=list)
    shipped: list[tuple[SpanKey, ShippedFields]] = field(default_factory=list)
    sessions: set[SessionKey] = field(default_factory=set)
    """The sessions the hand-off's events belong to."""
    folded: set[SessionKey] = field(default_factory=set)
    """Sessions whose unmatched records went into their session event in this hand-off."""
    filtered: int = 0
    """Records taken for spans the span filter dropped (counted as such, not as joined)."""


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
        self.records = RecordJoiner(clock=assembler.clock)
        self._records_expected = False
        """Set by the first record (or `expect_records`): from then on, shipped spans are remembered for late
        records. Until then a trace's mapping costs one attribute test more, nothing else."""
        self._unmatched: OrderedDict[SessionKey, tuple[list[dict[str, Any]], int]] = OrderedDict()
        """(Project, session id) → the unmatched records kept for it (as `record_summary` gives them) and their
        size: a session id routed to two projects keeps each project's records apart."""
        self._unmatched_bytes = 0
        self._unmatched_pending: set[SessionKey] = set()
        """Sessions with unmatched records not yet sent: no event of theirs was shipped yet (an update of a
        session that does not exist is refused), so they go into the session event, or an update once one of
        its events has shipped, or at close."""
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
        """Replay spans journaled by a previous run; then, unless `release_expired` is False (a file has no
        clock), start releasing traces that outlive the hold time."""
        if self.journal is not None:
            for views in self.journal.replay():
                self._release(self.assembler.add(views))
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
        self._records_expected = True

    def accept_records(self, records: Sequence[LogRecordView]) -> SendResult:
        """Take log records (docs/mapping.md#genai-content-in-log-records). GenAI records join their span: held
        until it comes (bounded by the hold time and a memory cap), or, when its event was already shipped, sent
        as an update of that event; one whose span never comes is kept in its session's metadata. Ordinary logs
        are counted and dropped. DELIVERED once the records are held or handed on; a failed update is the
        caller's to retry only when every record of the call was late (an update sent twice is the same update)."""
        try:
            return self._accept_records(records)
        except Exception as exc:  # never into a caller
            logger.exception("otel-honeyhive: accepting log records failed")
            return SendResult(Outcome.RETRY_LATER, f"accepting log records failed: {type(exc).__name__}: {exc}")

    def _accept_records(self, records: Sequence[LogRecordView]) -> SendResult:
        self.counters.add(LOG_RECORDS_RECEIVED, len(records))
        if not records:
            return DELIVERED
        if self._closed.is_set():
            return SendResult(Outcome.RETRY_LATER, "the pipeline is closed (shutting down)")
        if self.masker is not None:
            records = self.masker.records(records)
        self._records_expected = True  # a logs input is attached: its GenAI records may come after their spans
        genai: list[LogRecordView] = []
        not_genai = no_span = unsampled = 0
        for record in records:
            if kind_of(record) is None:
                not_genai += 1
            elif not record.names_a_span:
                no_span += 1
            elif not record.sampled:
                unsampled += 1
            else:
                genai.append(record)
        if not_genai:
            self.counters.add(LOG_RECORDS_IGNORED, not_genai, reason="not_genai")
        if no_span:
            self.counters.add(LOG_RECORDS_IGNORED, no_span, reason="no_span")
        if unsampled:
            self.counters.add(LOG_RECORDS_IGNORED, unsampled, reason="unsampled")
        if not genai:
            return DELIVERED
        late: dict[SpanKey, tuple[Shipped, list[LogRecordView]]] = {}
        given_up: list[LogRecordView] = []
        waiting = filtered = duplicates = late_count = 0
        filtering = self.mapper.span_filter is not None
        with self._map_lock:  # a record and its span's mapping never pass each other unseen
            for record in genai:
                key = (record.trace_id, record.span_id)
                shipped = late.get(key, (self.records.shipped(*key), []))[0]
                if shipped is not None:
                    late.setdefault(key, (shipped, []))[1].append(record)
                elif filtering and self.mapper.was_dropped(*key):
                    filtered += 1  # its span was filtered out: the record goes with it, as one joined before
                elif self.records.is_waiting(record):
                    duplicates += 1  # sent again (a client's retry): it waits once
                else:
                    given_up.extend(self.records.wait(record))
                    waiting += 1
            updates: list[Update | None] = []
            for key, (shipped, recs) in late.items():
                update, new = self._late_update(key, shipped, recs)
                updates.append(update)
                late_count += new
                duplicates += len(recs) - new
            updates.extend(self._unmatched_updates(given_up))
        if filtered:
            self.counters.add(LOG_RECORDS_IGNORED, filtered, reason="span_filtered")
        if duplicates:
            self.counters.add(LOG_RECORDS_IGNORED, duplicates, reason="duplicate")
        if late_count:
            self.counters.add(LOG_RECORDS_LATE, late_count)
        result = self._submit_updates(updates)
        return result if waiting == 0 and not given_up else DELIVERED

    def _late_update(self, key: SpanKey, shipped: Shipped, records: list[LogRecordView]) -> tuple[Update | None, int]:
        """The update late records make of their shipped event, and how many of them were new. The update
        carries every late record of the span so far (an update replaces `outputs` and merges the other buckets
        one level deep), so one sent again, or lost, is made good by the next. Under the mapping lock (it uses
        the ruleset)."""
        every, new = self.records.add_late(key, records)
        fields = late_update_fields(
            self.mapper.ruleset, SpanView(key[0], key[1], "", 0, 0), shipped.event_type, every,
            had_outputs=shipped.had_outputs, had_chat_history=shipped.had_chat_history,
            own_metrics=shipped.own_metrics, own_feedback=shipped.own_feedback,
        )
        project = self.mapper.project_of(key[0], records[0].resource) if records else None
        return (Update(shipped.event_id, fields, project) if fields else None), new

    def _unmatched_updates(self, records: list[LogRecordView], *, final: bool = False) -> list[Update | None]:
        """Records whose span never came, kept on their traces' sessions: as updates of the sessions an event was
        shipped for (the whole list kept so far for each: an update merges metadata key by key); for the others
        the records wait for the session (`_fold_unmatched`, `_send_pending`), or, when `final`, are sent
        anyway. Under the mapping lock."""
        if not records:
            return []
        self.counters.add(LOG_RECORDS_UNMATCHED, len(records))
        touched: set[SessionKey] = set()
        evicted: list[Update | None] = []
        for record in records:
            session_id = (self.mapper.project_of(record.trace_id, record.resource),
                          self.mapper.session_id_of(record.trace_id))
            kept, size = self._unmatched.pop(session_id, ([], 0))
            if len(kept) < MAX_UNMATCHED_PER_SESSION:
                summary = record_summary(record)
                kept.append(summary)
                grown = content_size(record)
                size += grown
                self._unmatched_bytes += grown
            self._unmatched[session_id] = (kept, size)
            touched.add(session_id)
            while (len(self._unmatched) > MAX_UNMATCHED_SESSIONS
                   or self._unmatched_bytes > MAX_UNMATCHED_BYTES) and len(self._unmatched) > 1:
                oldest, (lost, lost_size) = self._unmatched.popitem(last=False)
                self._unmatched_bytes -= lost_size
                touched.discard(oldest)
                if oldest in self._unmatched_pending:  # forgotten before its session came: sent as it is
                    self._unmatched_pending.discard(oldest)
                    evicted.append(Update(oldest[1], {"metadata": {UNMATCHED_KEY: lost}}, oldest[0]))
        updates = evicted
        for session_id in touched:
            if final or self.records.session_seen(session_id):
                self._unmatched_pending.discard(session_id)
                updates.append(self._unmatched_update(session_id))
            else:
                self._unmatched_pending.add(session_id)
        return updates

    def _fold_unmatched(self, events: list[Event], joining: _Joining) -> None:
        """A session event being mapped carries the unmatched records waiting for it (no update needed)."""
        for event in events:
            event_id = event.get("event_id")
            if event.get("event_type") != "session" or not isinstance(event_id, str):
                continue
            session_id = (self._routed_project(event), event_id)
            if session_id not in self._unmatched_pending:
                continue
            metadata = event.get("metadata")
            if not isinstance(metadata, dict):
                metadata = event["metadata"] = {}
            metadata[UNMATCHED_KEY] = list(self._unmatched[session_id][0])
            joining.folded.add(session_id)

    def _pending_updates(self, sessions: set[SessionKey] | None) -> list[Update | None]:
        """Updates for the sessions (every one, when None) whose unmatched records were waiting for them."""
        ready = self._unmatched_pending if sessions is None else self._unmatched_pending & sessions
        updates: list[Update | None] = [self._unmatched_update(session_id) for session_id in ready
                                        if session_id in self._unmatched]
        self._unmatched_pending -= set(ready)
        return updates

    def _unmatched_update(self, session_id: SessionKey) -> Update:
        """With the session's project: its id may be another project's session too (a UUID conversation's)."""
        return Update(session_id[1], {"metadata": {UNMATCHED_KEY: list(self._unmatched[session_id][0])}},
                      session_id[0])

    def _routed_project(self, event: Event) -> str | None:
        """The project a routing table sent an event to (None without one: a default project is not a route)."""
        project = event.get("project")
        return project if self.mapper.router is not None and isinstance(project, str) else None

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

    @property
    def record_wait(self) -> float:
        """How long a GenAI record waits for its span (`RECORD_WAIT_FACTOR` times the hold time)."""
        return self.assembler.hold_seconds * RECORD_WAIT_FACTOR

    def _expire_records(self, *, everything: bool = False, final: bool = False) -> None:
        """Give up records whose span did not come within the record wait (all of them on flush and close),
        except those of traces still held: those join when their trace is released. `final` (close, exit):
        unmatched records still waiting for their session are sent to it anyway."""
        if not self._records_expected:
            return
        with self._map_lock:
            if everything:
                expired = self.records.drain()
            elif self.records.waiting_records:
                expired = self.records.expired(self.record_wait, self.assembler.is_held)
            else:
                return
            updates = self._unmatched_updates(expired, final=final)
            if final:
                updates.extend(self._pending_updates(None))
        self._submit_updates(updates)

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
        joining = _Joining() if self._records_expected else None
        encode, shape = self.delivery.takes_encoded, self.delivery.event_shape
        with self._map_lock:
            if joining is None and self.masker is not None:
                events = batch_of((self._map_masked(t) for t in traces), encode=encode, shape=shape)
            elif joining is None:  # no logs input: the path as it always was
                events = batch_of((self.mapper.map_trace(t) for t in traces), encode=encode, shape=shape)
            else:
                events = batch_of((self._map_joined(t, joining) for t in traces), encode=encode, shape=shape)
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
        if joining is not None:
            self._settle(joining, handed)
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

    def _map_joined(self, trace: Trace, joining: _Joining) -> list[Event]:
        """Map a trace with the records waiting for its spans joined. The trace itself is left as it is (the
        journal and the acknowledgement count its spans by identity); what was taken, and which spans would be
        shipped, are noted in `joining`, settled once the hand-off's result is known (`_settle`)."""
        records = self.records
        joined: dict[int, SpanView] = {}
        mapped: Sequence[SpanView] = trace
        if trace and records.has_waiting(trace[0].trace_id):
            copy = list(trace)
            for i, span in enumerate(copy):
                waiting = records.take(span.trace_id, span.span_id)
                if waiting:
                    joining.taken.extend(waiting)
                    with_records = join(span, waiting)
                    if self.masker is not None:  # the records' replacements count on the event they join
                        with_records = with_record_counts(with_records, waiting)
                    copy[i] = joined[span.span_id] = with_records
            mapped = copy
        events = self.mapper.map_trace(mapped)
        if self.masker is not None:
            note_masked(mapped, events)
        if not mapped:
            return events
        if joined:
            for span_id, event in span_events(events):
                joined_span = joined.pop(span_id, None)
                if joined_span is not None:
                    apply_evaluations(event, joined_span)
            trace_id = mapped[0].trace_id
            for left in joined:  # spans the filter dropped: their records went with them
                joining.filtered += sum(1 for r in joining.taken if r.span_id == left and r.trace_id == trace_id)
        if self._unmatched_pending:
            self._fold_unmatched(events, joining)
        for event in events:
            session_id = event.get("session_id")
            if isinstance(session_id, str):
                joining.sessions.add((self._routed_project(event), session_id))
        joining.shipped.extend(shipped_of(mapped[0].trace_id, events))
        return events

    def _settle(self, joining: _Joining, delivered: bool) -> None:
        """After a hand-off: delivered, its spans are remembered as shipped (and a record that came for one of them
        while it was being handed on becomes an update); not delivered, the records taken wait again (for the
        spans' next hand-off, or to be kept on their session)."""
        updates: list[Update | None] = []
        late = 0
        with self._map_lock:
            if delivered:
                if len(joining.taken) > joining.filtered:
                    self.counters.add(LOG_RECORDS_JOINED, len(joining.taken) - joining.filtered)
                if joining.filtered:
                    self.counters.add(LOG_RECORDS_IGNORED, joining.filtered, reason="span_filtered")
                self.records.remember(joining.shipped)
                self.records.remember_sessions(joining.sessions)
                if self._unmatched_pending:
                    self._unmatched_pending -= joining.folded
                    updates.extend(self._pending_updates(joining.sessions))
                if self.records.waiting_records:  # rare: a record came while its span was handed on
                    for key, fields in joining.shipped:
                        stranded = self.records.take(*key) if self.records.has_waiting(key[0]) else []
                        if stranded:
                            update, new = self._late_update(key, Shipped(*fields), stranded)
                            late += new
                            updates.append(update)
            else:
                given_up: list[LogRecordView] = []
                for record in joining.taken:
                    given_up.extend(self.records.wait(record))
                updates.extend(self._unmatched_updates(given_up))
        if late:
            self.counters.add(LOG_RECORDS_LATE, late)
        self._submit_updates(updates)

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
                self._expire_records()
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
        for views in adopted:
            self._release(self.assembler.add(views))

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
        self.records.clear()
        self._unmatched = OrderedDict()
        self._unmatched_bytes = 0
        self._unmatched_pending = set()
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
        self._expire_records(everything=True, final=True)
        wait = min(self.exit_timeout, EXIT_SHIP_SECONDS)
        self._exit_deadline = time.monotonic() + wait
        self.delivery.flush(wait)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Map and hand on everything held (a trace still missing its root is shipped in parts), then wait up to
        `timeout` seconds for a spooled delivery to empty its spool. True when everything was delivered."""
        result = self._release(self.assembler.drain())
        self._expire_records(everything=True)
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
            self._expire_records(everything=True, final=True)  # records are in memory only, journal or not
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
    "MAX_UNMATCHED_PER_SESSION",
    "RETRY_HELD_SECONDS",
    "UNMATCHED_KEY",
    "Pipeline",
    "PipelineStats",
    "release_interval",
]
