"""Events out of any input file, streamed, with the positions where reading may safely resume.

Events files give their events as they are (a `--project` / `--source` fills them in only where missing).
OTLP files go through the same pipeline as the exporter and the receiver (docs/identity-and-assembly.md): spans
are held by trace until the trace's local root arrives, then the trace is mapped whole, so the events equal
`spans_to_events` on the same spans however the file's lines split them. Holding never expires by time (a file
has no clock); it is bounded by `max_held_spans` (past it the oldest traces are mapped in parts, as the
receiver does), and whatever is held at the end of the file is mapped then.

Resuming in the middle of an OTLP file is safe only where nothing is held: a span read before that point but
not yet mapped would be lost. So a position is offered only after a request that leaves the assembler empty.

GenAI log records (`logs`: the logs files of the same traffic, as the Collector's `file` exporter writes them)
go to the same pipeline as the receiver's `/v1/logs` (docs/mapping.md#genai-content-in-log-records). A file has no
clock, so they are handed on in time with the spans: before each traces request, every logs request whose
earliest record is no later than the request's latest span end. A record is emitted while its span runs, so it
waits in the joiner and joins its span before the event is made, whatever the order of the two files' requests;
one that comes later (an evaluation result) becomes an update of its span's event, and one whose span never comes
is kept on its session, when the pipeline closes at the end of the file (the close, not a flush, sends those
still waiting for a session event). Updates are given with the chunk (`Chunk.updates`). Nothing waits for a
clock, so nothing is dropped or delayed; no position is offered before the end (the records read ahead of a
position may be needed by spans after it).

With `sessions="conversation"` a later turn of a conversation extends the session event an earlier turn made
(an update, in the pipeline). A file's events are final when written, so the stream gives the update as the
session event again, merged (same id: an upsert wherever it lands, as when two processes start one session),
or, for `convert`, holds each such session and gives it once, at the end.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from otel_honeyhive.core.events import DEFAULT_SOURCE, Event
from otel_honeyhive.core.redactors import Redactor
from otel_honeyhive.core.results import Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.inputs.files.readers import START, InputFile, OtlpLogs, Position, Record
from otel_honeyhive.mapper.conversations import (
    DEFAULT_MAX_CONVERSATIONS,
    extended_session,
    is_conversation_session,
)
from otel_honeyhive.mapper.filtering import SpanFilter
from otel_honeyhive.mapper.ruleset import Ruleset
from otel_honeyhive.outputs.memory import MemoryOutput
from otel_honeyhive.pipeline import PipelineSettings, build_pipeline
from otel_honeyhive.pipeline.masking import Masker
from otel_honeyhive.pipeline.pipeline import Pipeline

DEFAULT_MAX_HELD_SPANS = 100_000


@dataclass(frozen=True, slots=True)
class Chunk:
    events: list[Event]
    resume_at: Position | None
    """Where a later run may continue once these events (and all before them) are delivered; None when
    continuing after this chunk would lose spans still held."""
    line: int
    """The line of the item these events came from (the first line of the file's last item, at the end)."""
    updates: list[Update] = field(default_factory=list)
    """Updates of events given in this chunk or before (GenAI log records that came after their span's event,
    or kept on their session as unmatched): to apply after those events."""


class EventStream:
    """Turns an `InputFile` of any format into events; for OTLP files, counts the spans read."""

    def __init__(
        self,
        source: InputFile,
        *,
        project: str | None = None,
        event_source: str | None = None,
        max_held_spans: int = DEFAULT_MAX_HELD_SPANS,
        ruleset: Ruleset | None = None,
        span_filter: SpanFilter | None = None,
        redactors: Sequence[Redactor] = (),
        sessions: str = "trace",
        sessions_at_end: bool = False,
        logs: Sequence[InputFile] = (),
    ) -> None:
        """`span_filter`: spans of an OTLP file to drop before mapping (docs/identity-and-assembly.md).
        `redactors`: what masks every string value of the spans, or of the events read (docs/privacy.md).
        `sessions`: what a session is for an OTLP file's spans, "trace" or "conversation" (see above);
        `sessions_at_end`: a conversation's session given once, in the last chunk, as its last turn left it
        (`convert`), rather than again at each later turn (`replay`). No chunk before the last then offers a
        resume position while a session is held. `logs`: OTLP logs files of the same traffic, whose GenAI records
        are joined to the spans (see above)."""
        self.source = source
        self.sessions = sessions
        self.sessions_at_end = sessions_at_end
        self.redactors = tuple(redactors)
        self.span_filter = span_filter
        self.project = project
        self.event_source = event_source
        self.max_held_spans = max_held_spans
        self.ruleset = ruleset
        self.logs = tuple(logs)
        self.spans_read = 0
        self.items_read = 0
        self.records_read = 0

    def chunks(self, start: Position = START) -> Iterator[Chunk]:
        if self.source.format.is_otlp:
            yield from self._from_spans(start)
        else:
            yield from self._from_events(start)

    def _from_events(self, start: Position) -> Iterator[Chunk]:
        project, event_source = self.project, self.event_source
        masker = Masker(self.redactors, ruleset=self.ruleset) if self.redactors else None
        for record in self.source.events(start):
            event = record.value
            if project is not None and event.get("project") is None:
                event["project"] = project
            if event_source is not None and event.get("source") is None:
                event["source"] = event_source
            if masker is not None:
                event = masker.event(event)
            self.items_read += 1
            yield Chunk([event], record.end, record.line)

    def _from_spans(self, start: Position) -> Iterator[Chunk]:
        memory = MemoryOutput()
        pipeline = build_pipeline(memory, PipelineSettings(
            project=self.project,
            source=self.event_source or DEFAULT_SOURCE,  # the exporter's default, and spans_to_events'
            ruleset=self.ruleset,
            hold_seconds=0.0,  # never consulted: a file has no clock, so nothing is released for its age
            max_held_spans=self.max_held_spans,
            span_filter=self.span_filter,
            redactors=self.redactors,
            sessions=self.sessions,
        ))
        sessions = _SessionEvents(at_end=self.sessions_at_end) if self.sessions == "conversation" else None
        feed = _LogFeed(self.logs, pipeline) if self.logs else None
        pipeline.start(release_expired=False)
        try:
            last, line = start, start.line
            for record in self.source.requests(start):
                spans = record.value.spans
                self.spans_read += len(spans)
                self.items_read += 1
                if feed is not None:
                    self.records_read += feed.until(_latest_end(spans))
                pipeline.accept_spans(spans)
                last, line = record.end, record.line
                events, updates = _taken(memory, sessions, feed is not None)
                resumable = (feed is None and pipeline.held_spans == 0
                             and not (sessions is not None and sessions.holding))
                yield Chunk(events, record.end if resumable else None, record.line, updates)
            if feed is not None:
                self.records_read += feed.rest()
            # Close, not flush: everything held is mapped, and the unmatched records still waiting for a session
            # event are handed on too (as updates of their sessions), as `serve` does when it stops.
            pipeline.close(0.0)
            events, updates = _taken(memory, sessions, feed is not None)
            yield Chunk(events + sessions.remaining() if sessions is not None else events, last, line, updates)
        finally:
            pipeline.close(0.0)


def _latest_end(spans: Sequence[SpanView]) -> int:
    return max((span.end_ns for span in spans), default=0)


class _LogFeed:
    """The logs requests of several files, each read ahead by one request, handed to the pipeline in time with
    the spans (module docstring)."""

    def __init__(self, files: Sequence[InputFile], pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._readers = [file.logs() for file in files]
        self._heads: list[Record[OtlpLogs] | None] = [next(reader, None) for reader in self._readers]
        pipeline.expect_records()

    def until(self, time_ns: int) -> int:
        """Hand on every request whose earliest record is no later than `time_ns`; how many records."""
        taken = 0
        for i, reader in enumerate(self._readers):
            head = self._heads[i]
            while head is not None and head.value.earliest_ns <= time_ns:
                taken += self._accept(head.value)
                head = self._heads[i] = next(reader, None)
        return taken

    def rest(self) -> int:
        """Hand on everything left (the spans are all read); how many records."""
        taken = 0
        for i, reader in enumerate(self._readers):
            head = self._heads[i]
            while head is not None:
                taken += self._accept(head.value)
                head = self._heads[i] = next(reader, None)
        return taken

    def _accept(self, logs: OtlpLogs) -> int:
        self._pipeline.accept_records(logs.records)  # into memory: always taken
        return len(logs.records)


def _taken(memory: MemoryOutput, sessions: _SessionEvents | None, records: bool) -> tuple[list[Event], list[Update]]:
    """The events and updates the pipeline made since the last call: the updates that extend a conversation's
    session folded into it as session events (see `_SessionEvents`); the others, which only log records make
    (`records`), given as they are; without records, none is left (a conversation the stream forgot, dropped as
    it always was)."""
    events, updates = memory.take(), memory.take_updates()
    if sessions is not None:
        events, updates = sessions.merged(events, updates), sessions.take_others()
    return events, updates if records else []




class _SessionEvents:
    """The conversation sessions this stream gave (or holds), newest last, as many as the mapper remembers
    starting: an update of one is that session event merged, its `children_ids` extended by the turns the update
    came with (the mapper forgets in the same order, and starts a forgotten conversation's session anew).

    Given again at each update, or, `at_end`, held and given once: when the file ends (`remaining`), or when it
    is the least recently extended past the limit (a later copy of it is then given too: the same id)."""

    def __init__(self, *, at_end: bool, limit: int = DEFAULT_MAX_CONVERSATIONS) -> None:
        self._at_end = at_end
        self._limit = limit
        self._events: OrderedDict[str, Event] = OrderedDict()
        self._others: list[Update] = []

    @property
    def holding(self) -> bool:
        return self._at_end and bool(self._events)

    def merged(self, events: list[Event], updates: list[Update]) -> list[Event]:
        """The events to give; the updates of events other than the sessions known here (a late log record's
        update of its span's event) are kept for `take_others`."""
        out: list[Event] = []
        for event in events:
            if not is_conversation_session(event):
                out.append(event)
                continue
            if not self._at_end:
                out.append(event)
            self._keep(event["event_id"], event, out)
        for update in updates:
            known = self._events.get(update.event_id)
            if known is None:
                self._others.append(update)
                continue
            extended = extended_session(known, update, events)
            if not self._at_end:
                out.append(extended)
            self._keep(update.event_id, extended, out)
        return out

    def take_others(self) -> list[Update]:
        """The updates `merged` was given for events other than the sessions known here, since the last call."""
        others, self._others = self._others, []
        return others

    def remaining(self) -> list[Event]:
        """The sessions still held (`at_end`), in the order they were last extended; nothing otherwise."""
        if not self._at_end:
            return []
        events, self._events = list(self._events.values()), OrderedDict()
        return events

    def _keep(self, event_id: str, event: Event, out: list[Event]) -> None:
        self._events[event_id] = event
        self._events.move_to_end(event_id)
        if len(self._events) > self._limit:
            _, evicted = self._events.popitem(last=False)
            if self._at_end:
                out.append(evicted)


__all__ = ["DEFAULT_MAX_HELD_SPANS", "Chunk", "EventStream"]
