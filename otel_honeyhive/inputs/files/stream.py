"""Events out of any input file, streamed, with the positions where reading may safely resume.

Events files give their events as they are (a `--project` / `--source` fills them in only where missing).
OTLP files go through the same pipeline as the exporter and the receiver (docs/identity-and-assembly.md): spans
are held by trace until the trace's local root arrives, then the trace is mapped whole, so the events equal
`spans_to_events` on the same spans however the file's lines split them. Holding never expires by time (a file
has no clock); it is bounded by `max_held_spans` (past it the oldest traces are mapped in parts, as the
receiver does), and whatever is held at the end of the file is mapped then.

Resuming in the middle of an OTLP file is safe only where nothing is held: a span read before that point but
not yet mapped would be lost. So a position is offered only after a request that leaves the assembler empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from otel_honeyhive.core.events import DEFAULT_SOURCE, Event
from otel_honeyhive.core.redactors import Redactor
from otel_honeyhive.inputs.files.readers import START, InputFile, Position
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
    ) -> None:
        """`span_filter`: spans of an OTLP file to drop before mapping (docs/identity-and-assembly.md).
        `redactors`: what masks every string value of the spans, or of the events read (docs/privacy.md)."""
        self.source = source
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
        ))
        pipeline.start(release_expired=False)
        try:
            last, line = start, start.line
            for record in self.source.requests(start):
                spans = record.value.spans
                self.spans_read += len(spans)
                self.items_read += 1
                pipeline.accept_spans(spans)
                last, line = record.end, record.line
                yield Chunk(memory.take(), record.end if pipeline.held_spans == 0 else None, record.line)
            pipeline.flush()
            yield Chunk(memory.take(), last, line)
        finally:
            pipeline.close(0.0)


__all__ = ["DEFAULT_MAX_HELD_SPANS", "Chunk", "EventStream"]
