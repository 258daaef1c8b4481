"""Events out of any input file, streamed, with the positions where reading may safely resume.

Events files give their events as they are (a `--project` / `--source` fills them in only where missing).
OTLP files go through the same pipeline as the exporter and the receiver (docs/identity-and-assembly.md): spans
are held by trace until the trace's local root arrives, then the trace is mapped whole, so the events equal
`spans_to_events` on the same spans however the file's lines split them. Holding never expires by time (a file
has no clock); it is bounded by `max_held_spans` (past it the oldest traces are mapped in parts, as the
receiver does), and whatever is held at the end of the file is mapped then.

Resuming in the middle of an OTLP file is safe only where nothing is held: a span read before that point but
not yet mapped would be lost. So a position is offered only after a request that leaves the assembler empty.

With `sessions="conversation"` a later turn of a conversation extends the session event an earlier turn made
(an update, in the pipeline). A file's events are final when written, so the stream gives the update as the
session event again, merged (same id: an upsert wherever it lands, as when two processes start one session),
or, for `convert`, holds each such session and gives it once, at the end.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from otel_honeyhive.core.events import DEFAULT_SOURCE, Event
from otel_honeyhive.core.redactors import Redactor
from otel_honeyhive.core.results import Update
from otel_honeyhive.inputs.files.readers import START, InputFile, Position
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

DEFAULT_MAX_HELD_SPANS = 100_000


@dataclass(frozen=True, slots=True)
class Chunk:
    events: list[Event]
    resume_at: Position | None
    """Where a later run may continue once these events (and all before them) are delivered; None when
    continuing after this chunk would lose spans still held."""
    line: int
    """The line of the item these events came from (the first line of the file's last item, at the end)."""


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
    ) -> None:
        """`span_filter`: spans of an OTLP file to drop before mapping (docs/identity-and-assembly.md).
        `redactors`: what masks every string value of the spans, or of the events read (docs/privacy.md).
        `sessions`: what a session is for an OTLP file's spans, "trace" or "conversation" (see above);
        `sessions_at_end`: a conversation's session given once, in the last chunk, as its last turn left it
        (`convert`), rather than again at each later turn (`replay`). No chunk before the last then offers a
        resume position while a session is held."""
        self.source = source
        self.sessions = sessions
        self.sessions_at_end = sessions_at_end
        self.redactors = tuple(redactors)
        self.span_filter = span_filter
        self.project = project
        self.event_source = event_source
        self.max_held_spans = max_held_spans
        self.ruleset = ruleset
        self.spans_read = 0
        self.items_read = 0

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
        pipeline.start(release_expired=False)
        try:
            last, line = start, start.line
            for record in self.source.requests(start):
                spans = record.value.spans
                self.spans_read += len(spans)
                self.items_read += 1
                pipeline.accept_spans(spans)
                last, line = record.end, record.line
                events = _taken(memory, sessions)
                resumable = pipeline.held_spans == 0 and not (sessions is not None and sessions.holding)
                yield Chunk(events, record.end if resumable else None, record.line)
            pipeline.flush()
            events = _taken(memory, sessions)
            yield Chunk(events + sessions.remaining() if sessions is not None else events, last, line)
        finally:
            pipeline.close(0.0)


def _taken(memory: MemoryOutput, sessions: _SessionEvents | None) -> list[Event]:
    """The events the pipeline made since the last call; its updates (conversation sessions extended) folded in
    as session events, or, in the trace mode, which makes none, dropped rather than kept."""
    events, updates = memory.take(), memory.take_updates()
    return events if sessions is None else sessions.merged(events, updates)


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

    @property
    def holding(self) -> bool:
        return self._at_end and bool(self._events)

    def merged(self, events: list[Event], updates: list[Update]) -> list[Event]:
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
                continue
            extended = extended_session(known, update, events)
            if not self._at_end:
                out.append(extended)
            self._keep(update.event_id, extended, out)
        return out

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
