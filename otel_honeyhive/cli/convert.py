"""`otel-honeyhive convert INPUT OUTPUT`: events ↔ OTLP/JSON files, streamed.

- OTLP → events: trace assembly + mapping, exactly as the receiver does (inputs/files/stream.py). With
  `--sessions conversation` a conversation's session event is written once, after its last turn, with the
  session's final end time (held until then: at most as many as the mapper remembers starting).
- events → OTLP: `events_to_spans` per chunk of `EVENTS_PER_REQUEST` events, encoded by the OTLP exporter's
  own encoder, one `ExportTraceServiceRequest` per output line (or all of them in one `.otlp.json` document).
- events → events and OTLP → OTLP: re-framed (NDJSON ↔ JSON array; request per line ↔ one request), unchanged;
  a protobuf request (a length-prefixed file's, the Collector `file` exporter's `format: proto`) becomes the same
  request in OTLP/JSON.

With `--logs FILE` (OTLP input to events), the GenAI log records of the same traffic (the Collector `file`
exporter's logs file) go to the pipeline with the spans, as `serve` takes them at `/v1/logs`
(inputs/files/stream.py): joined to their spans' events, or, when they come after them or their span never
comes, as updates. An events file holds final events, so the events are first written to a private temporary
file beside OUTPUT, then copied into OUTPUT with the updates applied (HoneyHive's `PUT /events` rules): each event
once, as HoneyHive holds it once `serve` has sent the events and their updates.

Bad input stops the conversion with `file:line: what is wrong`, and the output file is not left behind: it is
written to a temporary file and renamed into place only on success.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.file_formats import Format, check_writable, detect_format, parse_format
from otel_honeyhive.core.jsonable import dumps, loads
from otel_honeyhive.core.redactors import Redactor
from otel_honeyhive.core.results import Update
from otel_honeyhive.inputs.files.readers import InputError, InputFile
from otel_honeyhive.inputs.files.stream import EventStream
from otel_honeyhive.mapper.conversations import DEFAULT_SESSIONS
from otel_honeyhive.mapper.filtering import SpanFilter, split_list
from otel_honeyhive.mapper.reverse import Lineage, events_to_spans
from otel_honeyhive.outputs.files import (
    EventWriter,
    OutputFile,
    event_writer,
    otlp_writer,
    protobuf_to_otlp_json,
    spans_to_otlp_json,
)
from otel_honeyhive.server.config import resolve_redactors, resolve_sessions

T = TypeVar("T")

EVENTS_PER_REQUEST = 512
"""Events per OTLP request written: the OTLP exporters' default batch size."""


@dataclass
class Counts:
    read: int = 0
    written: int = 0
    records: int = 0
    """Log records read from the `--logs` files."""
    unapplied: int = 0
    """Updates of events that are not in the output (the session of a trace none of whose spans is in INPUT)."""


def _fail(message: str, code: int = 1) -> int:
    print(f"otel-honeyhive convert: {message}", file=sys.stderr)
    return code


def _formats(args: argparse.Namespace) -> tuple[Format, Format]:
    src = parse_format(args.from_format) if args.from_format else detect_format(args.input)
    dst = parse_format(args.to_format) if args.to_format else detect_format(args.output, "--to")
    check_writable(dst, args.output)
    return src, dst


def run_convert(args: argparse.Namespace) -> int:
    """The `convert` command; 0 on success, 1 for bad input or I/O errors, 2 for bad usage."""
    input_path: Path = args.input
    output_path: Path = args.output
    try:
        src, dst = _formats(args)
    except ValueError as exc:
        return _fail(str(exc), 2)
    if input_path.exists() and output_path.exists() and input_path.resolve() == output_path.resolve():
        return _fail("INPUT and OUTPUT are the same file", 2)
    try:
        span_filter = _span_filter(args, src, dst)
        redactors = _redactors(args, src, dst)
        sessions = _sessions(args, src, dst)
        logs = file_logs(args, src, src.is_otlp and not dst.is_otlp, f"log records are joined when OTLP input is "
                         f"converted to events; this is {src.value} to {dst.value}")
    except ValueError as exc:
        return _fail(str(exc), 2)
    for path, _ in logs:
        if path.exists() and output_path.exists() and path.resolve() == output_path.resolve():
            return _fail(f"--logs {path} and OUTPUT are the same file", 2)
    counts = Counts()
    with ExitStack() as files:
        try:
            source = files.enter_context(InputFile(input_path, src))
            log_files = open_logs(files, logs)
        except OSError as exc:
            return _fail(f"cannot read {exc.filename or input_path}: {exc.strerror or exc}")
        except InputError as exc:  # a zstd file without the zstd module
            return _fail(str(exc))
        try:
            with OutputFile(output_path) as out:
                if dst.is_otlp and src.is_otlp:
                    _otlp_to_otlp(source, out, dst, counts)
                elif dst.is_otlp:
                    _events_to_otlp(source, out, dst, counts, args, redactors)
                else:
                    _to_events(source, out, dst, counts, args, span_filter, redactors, sessions, log_files)
        except InputError as exc:
            return _fail(str(exc))
        except OSError as exc:
            return _fail(f"{exc.filename or output_path}: {exc.strerror or exc}")
    if not args.quiet:
        records = f" and {counts.records} log record{'' if counts.records == 1 else 's'}" if logs else ""
        unapplied = (f"; {counts.unapplied} update{'' if counts.unapplied == 1 else 's'} of events not in the "
                     "file not written (log records of traces with no span in INPUT)" if counts.unapplied else "")
        print(f"otel-honeyhive convert: {_count(counts.read, src)}{records} from {input_path} ({src.value}) → "
              f"{_count(counts.written, dst)} in {output_path} ({dst.value}){unapplied}", file=sys.stderr)
    return 0


def file_logs(args: argparse.Namespace, src: Format, applies: bool, why_not: str) -> list[tuple[Path, Format]]:
    """The `--logs` files (`convert`, `replay`) with their formats: from each name when it names an OTLP format,
    else INPUT's (the Collector writes its traces and logs files alike); ValueError when `--logs` cannot apply
    (naming `why_not`)."""
    paths: list[Path] = list(getattr(args, "logs", None) or ())
    if not paths:
        return []
    if not applies:
        raise ValueError(f"--logs: {why_not}")
    logs: list[tuple[Path, Format]] = []
    for path in paths:
        try:
            named = detect_format(path)
        except ValueError:
            named = src
        logs.append((path, named if named.is_otlp else src))
    return logs


def open_logs(files: ExitStack, logs: Sequence[tuple[Path, Format]]) -> list[InputFile]:
    """The `--logs` files opened, closed with `files`; OSError naming the file, InputError (zstd module)."""
    return [files.enter_context(InputFile(path, fmt)) for path, fmt in logs]


def _count(n: int, fmt: Format) -> str:
    noun = "request" if fmt.is_otlp else "event"
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _span_filter(args: argparse.Namespace, src: Format, dst: Format) -> SpanFilter | None:
    """`--span-filter`, `--drop-scope`, `--drop-span`: spans are filtered where they are mapped, so only for OTLP
    input written as events; ValueError for a bad preset, or for flags that would do nothing."""
    return file_span_filter(args, src.is_otlp and not dst.is_otlp,
                            f"spans are filtered when OTLP input is converted to events; this is {src.value} to "
                            f"{dst.value}")


def file_span_filter(args: argparse.Namespace, applies: bool, why_not: str) -> SpanFilter | None:
    """The span filter of `--span-filter`, `--drop-scope`, `--drop-span` (`convert`, `replay`); ValueError for a
    bad preset, or, when the flags cannot apply, naming them and `why_not`."""
    flags = [flag for flag, given in (("--span-filter", args.span_filter), ("--drop-scope", args.drop_scope),
                                      ("--drop-span", args.drop_span)) if given]
    if not flags:
        return None
    if not applies:
        raise ValueError(f"{', '.join(flags)}: {why_not}")
    return SpanFilter.build(split_list(",".join(args.span_filter or ())), split_list(",".join(args.drop_scope or ())),
                            split_list(",".join(args.drop_span or ())), option="--span-filter")


def _redactors(args: argparse.Namespace, src: Format, dst: Format) -> tuple[Redactor, ...]:
    """`--redact`, `--redact-regex` (else `$HH_REDACT`): values are masked as the file goes through events, so
    an OTLP to OTLP copy, which never does, is refused rather than written unmasked."""
    redactors = resolve_redactors(args.redact, args.redact_regex, os.environ)
    if redactors and src.is_otlp and dst.is_otlp:
        given = "--redact" if args.redact or args.redact_regex else "$HH_REDACT"
        raise ValueError(f"{given}: values are masked when a file is converted to or from events; {src.value} to "
                         f"{dst.value} is copied as it is")
    return redactors


def _sessions(args: argparse.Namespace, src: Format, dst: Format) -> str:
    """`--sessions` (else `$HH_SESSIONS`, where it applies): sessions are made when OTLP input is mapped to
    events, so the flag is refused for any other conversion; ValueError for an unknown mode."""
    return file_sessions(args, src.is_otlp and not dst.is_otlp, f"sessions are made when OTLP input is converted "
                         f"to events; this is {src.value} to {dst.value}")


def file_sessions(args: argparse.Namespace, applies: bool, why_not: str) -> str:
    """The sessions mode of `--sessions`, else `$HH_SESSIONS` (`convert`, `replay`), where it applies, else the
    default; ValueError for an unknown mode, or for the flag where it cannot apply, with `why_not`."""
    if not applies:
        if args.sessions:
            raise ValueError(f"--sessions: {why_not}")
        return DEFAULT_SESSIONS
    return resolve_sessions(args.sessions, os.environ)


def _to_events(source: InputFile, out: OutputFile, dst: Format, counts: Counts, args: argparse.Namespace,
               span_filter: SpanFilter | None = None, redactors: tuple[Redactor, ...] = (),
               sessions: str = "trace", logs: Sequence[InputFile] = ()) -> None:
    writer = event_writer(out, dst)
    stream = EventStream(source, project=args.project, event_source=args.source, max_held_spans=args.max_held_spans,
                         span_filter=span_filter, redactors=redactors, sessions=sessions, sessions_at_end=True,
                         logs=logs)
    if logs:
        _with_updates(stream, out, writer, counts)
    else:
        for chunk in stream.chunks():
            for event in chunk.events:
                writer.write(event)
            counts.written += len(chunk.events)
    counts.read = stream.items_read
    counts.records = stream.records_read
    writer.finish()


def _with_updates(stream: EventStream, out: OutputFile, writer: EventWriter, counts: Counts) -> None:
    """The stream's events, written once each with the updates log records made of them applied: staged in a
    private temporary file beside OUTPUT (removed however this ends), then copied into `writer`. Only updates
    are kept in memory."""
    updates: dict[str, list[Update]] = {}
    with tempfile.TemporaryFile(dir=out.path.parent, prefix=f".{out.path.name}.") as staged:  # 0600, unlinked
        for chunk in stream.chunks():
            for event in chunk.events:
                staged.write(dumps(event) + b"\n")
            counts.written += len(chunk.events)
            for update in chunk.updates:
                updates.setdefault(update.event_id, []).append(update)
        staged.seek(0)
        seen: set[str] = set()
        for line in staged:
            event = loads(line)
            event_id = event.get("event_id")
            seen.add(event_id)
            for update in updates.get(event_id, ()):
                event = update.apply_to(event)
            writer.write(event)
    counts.unapplied = sum(len(left) for event_id, left in updates.items() if event_id not in seen)


def otlp_requests(items: Iterable[T], spans_of: Callable[[list[T]], list[ReadableSpan]]) -> Iterator[
    tuple[dict[str, Any], int]
]:
    """OTLP/JSON requests of `EVENTS_PER_REQUEST` items each (the last one shorter), made by `spans_of`, and how
    many items each holds: how `convert` and `export` write events as OTLP."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == EVENTS_PER_REQUEST:
            yield spans_to_otlp_json(spans_of(batch)), len(batch)
            batch = []
    if batch:
        yield spans_to_otlp_json(spans_of(batch)), len(batch)


def _events_to_otlp(
    source: InputFile, out: OutputFile, dst: Format, counts: Counts, args: argparse.Namespace,
    redactors: tuple[Redactor, ...] = (),
) -> None:
    writer = otlp_writer(out, dst)
    stream = EventStream(source, project=args.project, event_source=args.source, redactors=redactors)
    lined = ((event, chunk.line) for chunk in stream.chunks() for event in chunk.events)
    lineage = Lineage()  # a session cut between two requests stays one trace
    for request, _ in otlp_requests(lined, lambda batch: _spans(source, batch, lineage)):
        writer.write(request)
        counts.written += 1
    counts.read = stream.items_read
    writer.finish()


def _spans(source: InputFile, batch: list[tuple[Event, int]], lineage: Lineage | None = None) -> list[ReadableSpan]:
    """The batch as spans; an event the reverse mapping refuses is named by its line."""
    try:
        return events_to_spans([event for event, _ in batch], lineage=lineage)
    except ValueError:
        for event, line in batch:
            try:
                events_to_spans([event])
            except ValueError as exc:
                raise InputError(source.display, line, f"cannot make a span of this event: {exc}") from None
        raise


def _otlp_to_otlp(source: InputFile, out: OutputFile, dst: Format, counts: Counts) -> None:
    writer = otlp_writer(out, dst)
    for record in source.requests():
        body = record.value.body
        writer.write(protobuf_to_otlp_json(body) if record.value.protobuf else orjson.loads(body))
        counts.read += 1
    counts.written = counts.read if dst is Format.OTLP_JSONL else 1
    writer.finish()


__all__ = ["EVENTS_PER_REQUEST", "file_logs", "file_sessions", "file_span_filter", "open_logs", "otlp_requests",
           "run_convert"]
