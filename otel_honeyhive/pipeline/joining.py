"""The joining of GenAI log records to their spans' events, as the pipeline does it
(docs/mapping.md#genai-content-in-log-records, docs/delivery.md).

A record comes before its span or after it, in another batch. `RecordJoining` is the pipeline's one collaborator
for this: it sorts the records it is handed (GenAI or not, naming a span, sampled), holds those whose span is still
to come in the `RecordJoiner` (pipeline/records.py), joins them to their span when the span's trace is mapped
(`map_trace`, `settle`), turns those that come after their span's event was shipped into updates of it, and keeps
those whose span never comes on their session (`UNMATCHED_KEY`): in the session event when that is still to be
shipped, else as an update of it.

With a journal (the server's `--spool-dir`), records left waiting are made durable before they are acknowledged:
`accept` writes those that will wait to the journal first (a full journal refuses the request before anything is
taken), and each is released from it once it is durably handed on: joined into events the hand-off delivered,
or sent as an update (late, or kept on its session as unmatched). After a crash the pipeline replays them into
`restore`. Without a journal nothing here touches the disk.

Locking is the pipeline's: every step that reads or changes the state here runs under the pipeline's mapping lock
(`lock`), the one its traces are mapped under, so a record and its span's mapping never pass each other unseen;
updates are handed on (`submit`) outside it. After a fork the pipeline hands its child's new lock and counters to
`after_fork_in_child`, which forgets everything held here (the parent's to send). Not compiled: the per-event work
is in records.py, which is.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_honeyhive.core.counters import (
    LOG_RECORDS_IGNORED,
    LOG_RECORDS_JOINED,
    LOG_RECORDS_LATE,
    LOG_RECORDS_UNMATCHED,
    Counters,
)
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.log_records import apply_evaluations, join, kind_of, late_update_fields, record_summary
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.pipeline.assembly import Trace, TraceAssembler
from otel_honeyhive.pipeline.masking import Masker, note_masked, with_record_counts
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
from otel_honeyhive.shipping.journal import Journal

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
class HandOff:
    """What one hand-off took from the records waiting, and the spans it would ship (see `RecordJoining.settle`)."""

    taken: list[LogRecordView] = field(default_factory=list)
    shipped: list[tuple[SpanKey, ShippedFields]] = field(default_factory=list)
    sessions: set[SessionKey] = field(default_factory=set)
    """The sessions the hand-off's events belong to."""
    folded: set[SessionKey] = field(default_factory=set)
    """Sessions whose unmatched records went into their session event in this hand-off."""
    folded_records: list[LogRecordView] = field(default_factory=list)
    """With a journal: the journaled records behind those unmatched records (released once delivered)."""
    filtered: int = 0
    """Records taken for spans the span filter dropped (counted as such, not as joined)."""


def _handed_on(result: SendResult) -> bool:
    """Whether updates carrying journaled records are done with: delivered (durable in the outbox or the store),
    or refused for good (as spans whose events are refused leave the journal); only a failure to retry later
    (a full outbox, an output down) keeps them journaled, to be replayed by the next start."""
    return result.outcome is not Outcome.RETRY_LATER


class RecordJoining:
    """GenAI log records joined to their spans' events: waiting records, late updates, unmatched records kept on
    their sessions. Owned by one `Pipeline`, which calls it under its mapping lock as the module docstring says."""

    def __init__(
        self,
        mapper: TraceMapper,
        assembler: TraceAssembler,
        *,
        lock: threading.Lock,
        counters: Counters,
        submit: Callable[[Sequence[Update | None]], SendResult],
        masker: Masker | None = None,
        journal: Journal | None = None,
    ) -> None:
        """`lock`: the pipeline's mapping lock. `submit`: hands updates on (outside the lock), its first failure
        the result. `masker`: only tells whether records' replacements are to be counted on their events.
        `journal`: where records that wait are made durable before they are acknowledged (None: in memory)."""
        self.mapper = mapper
        self.assembler = assembler
        self.lock = lock
        self.counters = counters
        self.masker = masker
        self._submit = submit
        self.journal = journal
        self.records = RecordJoiner(clock=assembler.clock)
        self.expected = False
        """Set by the first record (or `Pipeline.expect_records`): from then on, shipped spans are remembered for
        late records. Until then a trace's mapping costs one attribute test more, nothing else."""
        self._unmatched: OrderedDict[SessionKey, tuple[list[dict[str, Any]], int]] = OrderedDict()
        """(Project, session id) → the unmatched records kept for it (as `record_summary` gives them) and their
        size: a session id routed to two projects keeps each project's records apart."""
        self._unmatched_bytes = 0
        self._unmatched_pending: set[SessionKey] = set()
        """Sessions with unmatched records not yet sent: no event of theirs was shipped yet (an update of a
        session that does not exist is refused), so they go into the session event, or an update once one of
        its events has shipped, or at close."""
        self._pending_journaled: dict[SessionKey, list[LogRecordView]] = {}
        """With a journal: the journaled records whose summaries wait in `_unmatched` for their session (released
        once an update or the session event carries them)."""

    def after_fork_in_child(self, *, lock: threading.Lock, counters: Counters) -> None:
        """The child's copy: the pipeline's new lock and counters, and nothing held (the parent's to send)."""
        self.lock = lock
        self.counters = counters
        self.records.clear()
        self._unmatched = OrderedDict()
        self._unmatched_bytes = 0
        self._unmatched_pending = set()
        self._pending_journaled = {}

    # -- records coming in ------------------------------------------------------------------------------------

    def accept(self, records: Sequence[LogRecordView]) -> SendResult:
        """Sort records (already counted and masked by the pipeline): GenAI records wait for their span, or
        become an update of its shipped event; the others are counted as ignored. DELIVERED unless every record
        was late and an update failed (see `Pipeline.accept_records`), or, with a journal, the records that would
        wait could not be journaled (full: nothing was taken, the client keeps them)."""
        self.expected = True  # a logs input is attached: its GenAI records may come after their spans
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
        if self.journal is not None:
            to_wait = self._would_wait(genai)
            if to_wait:  # on disk before any of them is taken (the journal's fsync, outside the mapping lock)
                written = self.journal.write_records(to_wait)
                if not written.ok:
                    return written
        return self._take(genai)

    def restore(self, records: Sequence[LogRecordView]) -> None:
        """Records journaled by an earlier run, or by a process that is gone (already tracked by the journal):
        taken as if they came now, so they wait for their span again (or join its shipped event as an update)."""
        self.expected = True
        self._take(records, answered=False)

    def _would_wait(self, genai: list[LogRecordView]) -> list[LogRecordView]:
        """The records `_take` would keep waiting (their span neither shipped nor filtered out, the record not
        already waiting): those a journal must hold before the request is acknowledged. Taken again under the
        lock afterwards, so a span handed on in between makes its records updates, released from the journal."""
        filtering = self.mapper.span_filter is not None
        with self.lock:
            return [record for record in genai
                    if self.records.shipped(record.trace_id, record.span_id) is None
                    and not (filtering and self.mapper.was_dropped(record.trace_id, record.span_id))
                    and not self.records.is_waiting(record)]

    def _take(self, genai: Sequence[LogRecordView], *, answered: bool = True) -> SendResult:
        """Records to wait for their span, or to update its shipped event. `answered`: a client waits for the
        result (a failure is its to retry, so journaled records need not stay); False when restoring."""
        late: dict[SpanKey, tuple[Shipped, list[LogRecordView]]] = {}
        given_up: list[LogRecordView] = []
        let_go: list[LogRecordView] = []
        """Filtered out, or sent twice: nothing to hand on."""
        handed: list[LogRecordView] = []
        """Journaled records the updates carry (released once they are handed on)."""
        waiting = filtered = duplicates = late_count = 0
        filtering = self.mapper.span_filter is not None
        with self.lock:  # a record and its span's mapping never pass each other unseen
            for record in genai:
                key = (record.trace_id, record.span_id)
                shipped = late.get(key, (self.records.shipped(*key), []))[0]
                if shipped is not None:
                    late.setdefault(key, (shipped, []))[1].append(record)
                elif filtering and self.mapper.was_dropped(*key):
                    filtered += 1  # its span was filtered out: the record goes with it, as one joined before
                    let_go.append(record)
                elif self.records.is_waiting(record):
                    duplicates += 1  # sent again (a client's retry): it waits once
                    let_go.append(record)
                else:
                    given_up.extend(self.records.wait(record))
                    waiting += 1
            updates: list[Update | None] = []
            for key, (shipped, recs) in late.items():
                update, new = self._late_update(key, shipped, recs)
                updates.append(update)
                late_count += new
                duplicates += len(recs) - new
                if self.journal is not None:
                    handed.extend(recs)
            updates.extend(self._unmatched_updates(given_up, handed))
        if filtered:
            self.counters.add(LOG_RECORDS_IGNORED, filtered, reason="span_filtered")
        if duplicates:
            self.counters.add(LOG_RECORDS_IGNORED, duplicates, reason="duplicate")
        if late_count:
            self.counters.add(LOG_RECORDS_LATE, late_count)
        result = self._submit(updates)
        answer = result if waiting == 0 and not given_up else DELIVERED
        if self.journal is not None:
            self.journal.released_records(let_go)
            if _handed_on(result) or (answered and not answer.ok):  # or refused to a client who keeps them
                self.journal.released_records(handed)
        return answer

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

    # -- unmatched records, kept on their sessions ------------------------------------------------------------

    def _unmatched_updates(self, records: list[LogRecordView], handed: list[LogRecordView], *,
                           final: bool = False) -> list[Update | None]:
        """Records whose span never came, kept on their traces' sessions: as updates of the sessions an event was
        shipped for (the whole list kept so far for each: an update merges metadata key by key); for the others
        the records wait for the session (`_fold_unmatched`, `_pending_updates`), or, when `final`, are sent
        anyway. With a journal, the journaled records the updates carry (or that are not kept) go to `handed`.
        Under the mapping lock."""
        if not records:
            return []
        self.counters.add(LOG_RECORDS_UNMATCHED, len(records))
        touched: set[SessionKey] = set()
        evicted: list[Update | None] = []
        journaled = self.journal is not None
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
                if journaled:
                    self._pending_journaled.setdefault(session_id, []).append(record)
            elif journaled:
                handed.append(record)  # past the session's cap: counted, not kept, as without a journal
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
                if journaled:
                    handed.extend(self._pending_journaled.pop(oldest, ()))
        updates = evicted
        for session_id in touched:
            if final or self.records.session_seen(session_id):
                self._unmatched_pending.discard(session_id)
                updates.append(self._unmatched_update(session_id, handed))
            else:
                self._unmatched_pending.add(session_id)
        return updates

    def _fold_unmatched(self, events: list[Event], hand_off: HandOff) -> None:
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
            hand_off.folded.add(session_id)
            hand_off.folded_records.extend(self._pending_journaled.get(session_id, ()))

    def _pending_updates(self, sessions: set[SessionKey] | None, handed: list[LogRecordView]
                         ) -> list[Update | None]:
        """Updates for the sessions (every one, when None) whose unmatched records were waiting for them."""
        ready = self._unmatched_pending if sessions is None else self._unmatched_pending & sessions
        updates: list[Update | None] = [self._unmatched_update(session_id, handed) for session_id in ready
                                        if session_id in self._unmatched]
        self._unmatched_pending -= set(ready)
        return updates

    def _unmatched_update(self, session_id: SessionKey, handed: list[LogRecordView]) -> Update:
        """With the session's project: its id may be another project's session too (a UUID conversation's).
        The journaled records it carries go to `handed`."""
        if self._pending_journaled:
            handed.extend(self._pending_journaled.pop(session_id, ()))
        return Update(session_id[1], {"metadata": {UNMATCHED_KEY: list(self._unmatched[session_id][0])}},
                      session_id[0])

    def _routed_project(self, event: Event) -> str | None:
        """The project a routing table sent an event to (None without one: a default project is not a route)."""
        project = event.get("project")
        return project if self.mapper.router is not None and isinstance(project, str) else None

    @property
    def record_wait(self) -> float:
        """How long a GenAI record waits for its span (`RECORD_WAIT_FACTOR` times the hold time)."""
        return self.assembler.hold_seconds * RECORD_WAIT_FACTOR

    def expire(self, *, everything: bool = False, final: bool = False) -> None:
        """Give up records whose span did not come within the record wait (all of them on flush and close),
        except those of traces still held: those join when their trace is released. `final` (close, exit):
        without a journal, unmatched records still waiting for their session are sent to it anyway (memory is
        all they have); with one, they stay journaled for the next start, as records still waiting for their
        span do unless `everything` (an update of a session that does not exist yet would be refused: lost)."""
        if not self.expected:
            return
        send_anyway = final and self.journal is None
        handed: list[LogRecordView] = []
        with self.lock:
            if everything:
                expired = self.records.drain()
            elif self.records.waiting_records:
                expired = self.records.expired(self.record_wait, self.assembler.is_held)
            elif send_anyway and self._unmatched_pending:
                expired = []
            else:
                return
            updates = self._unmatched_updates(expired, handed, final=send_anyway)
            if send_anyway:
                updates.extend(self._pending_updates(None, handed))
        result = self._submit(updates)
        if self.journal is not None and _handed_on(result):
            self.journal.released_records(handed)

    # -- spans going out --------------------------------------------------------------------------------------

    def hand_off(self) -> HandOff | None:
        """What a hand-off of traces notes for `settle`; None while no record is expected (the plain path)."""
        return HandOff() if self.expected else None

    def map_trace(self, trace: Trace, hand_off: HandOff) -> list[Event]:
        """Map a trace with the records waiting for its spans joined (under the mapping lock). The trace itself
        is left as it is (the journal and the acknowledgement count its spans by identity); what was taken, and
        which spans would be shipped, are noted in `hand_off`, settled once the hand-off's result is known."""
        records = self.records
        joined: dict[int, SpanView] = {}
        mapped: Sequence[SpanView] = trace
        if trace and records.has_waiting(trace[0].trace_id):
            copy = list(trace)
            for i, span in enumerate(copy):
                waiting = records.take(span.trace_id, span.span_id)
                if waiting:
                    hand_off.taken.extend(waiting)
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
                hand_off.filtered += sum(1 for r in hand_off.taken if r.span_id == left and r.trace_id == trace_id)
        if self._unmatched_pending:
            self._fold_unmatched(events, hand_off)
        for event in events:
            session_id = event.get("session_id")
            if isinstance(session_id, str):
                hand_off.sessions.add((self._routed_project(event), session_id))
        hand_off.shipped.extend(shipped_of(mapped[0].trace_id, events))
        return events

    def settle(self, hand_off: HandOff, delivered: bool) -> None:
        """After a hand-off: delivered, its spans are remembered as shipped (and a record that came for one of them
        while it was being handed on becomes an update); not delivered, the records taken wait again (for the
        spans' next hand-off, or to be kept on their session)."""
        updates: list[Update | None] = []
        handed: list[LogRecordView] = []
        late = 0
        with self.lock:
            if delivered:
                if len(hand_off.taken) > hand_off.filtered:
                    self.counters.add(LOG_RECORDS_JOINED, len(hand_off.taken) - hand_off.filtered)
                if hand_off.filtered:
                    self.counters.add(LOG_RECORDS_IGNORED, hand_off.filtered, reason="span_filtered")
                self.records.remember(hand_off.shipped)
                self.records.remember_sessions(hand_off.sessions)
                if self._unmatched_pending:
                    self._unmatched_pending -= hand_off.folded
                    updates.extend(self._pending_updates(hand_off.sessions, handed))
                if hand_off.folded_records:
                    self._forget_folded(hand_off)
                if self.records.waiting_records:  # rare: a record came while its span was handed on
                    for key, fields in hand_off.shipped:
                        stranded = self.records.take(*key) if self.records.has_waiting(key[0]) else []
                        if stranded:
                            update, new = self._late_update(key, Shipped(*fields), stranded)
                            late += new
                            updates.append(update)
                            handed.extend(stranded)
            else:
                given_up: list[LogRecordView] = []
                for record in hand_off.taken:
                    given_up.extend(self.records.wait(record))
                updates.extend(self._unmatched_updates(given_up, handed))
        if late:
            self.counters.add(LOG_RECORDS_LATE, late)
        result = self._submit(updates)
        if self.journal is not None:
            if delivered:  # in the events handed on: joined, or folded into their session event
                self.journal.released_records(hand_off.taken)
                self.journal.released_records(hand_off.folded_records)
            if _handed_on(result):
                self.journal.released_records(handed)

    def _forget_folded(self, hand_off: HandOff) -> None:
        """The journaled records a delivered session event carries no longer wait for their session (those that
        came for it after it was mapped still do). Under the mapping lock."""
        folded = {id(record) for record in hand_off.folded_records}
        for session_id in hand_off.folded:
            left = [r for r in self._pending_journaled.get(session_id, ()) if id(r) not in folded]
            if left:
                self._pending_journaled[session_id] = left
            else:
                self._pending_journaled.pop(session_id, None)


__all__ = [
    "MAX_UNMATCHED_BYTES",
    "MAX_UNMATCHED_PER_SESSION",
    "MAX_UNMATCHED_SESSIONS",
    "RECORD_WAIT_FACTOR",
    "UNMATCHED_KEY",
    "HandOff",
    "RecordJoining",
]
