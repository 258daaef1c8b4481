"""`otel-honeyhive convert INPUT OUTPUT`: events ↔ OTLP/JSON files, streamed.

- OTLP → events: trace assembly + mapping, exactly as the receiver does (inputs/files/stream.py). With
  `--sessions conversation` a conversation's session event is written once, after its last turn, with the
  session's final end time (held until then: at most as many as the mapper remembers starting).
- events → OTLP: `events_to_spans` per chunk of `EVENTS_PER_REQUEST` events, encoded by the OTLP exporter's
  own encoder, one `ExportTraceServiceRequest` per output line (or all of them in one `.otlp.json` document).
- events → events and OTLP → OTLP: re-framed (NDJSON ↔ JSON array; request per line ↔ one request), unchanged;
  a protobuf request (a length-prefixed file's, the Collector `file` exporter's `format: proto`) becomes the same
  request in OTLP/JSON.

Bad input stops the conversion with `file:line: what is wrong`, and the output file is not left behind: it is
written to a temporary file and renamed into place only on success.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.file_formats import Format, check_writable, detect_format, parse_format
from otel_honeyhive.core.redactors import Redactor
from otel_honeyhive.inputs.files.readers import InputError, InputFile
from otel_honeyhive.inputs.files.stream import EventStream
from otel_honeyhive.mapper.conversations import DEFAULT_SESSIONS
from otel_honeyhive.mapper.filtering import SpanFilter, split_list
from otel_honeyhive.mapper.reverse import Lineage, events_to_spans
from otel_honeyhive.outputs.files import (
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
    except ValueError as exc:
        return _fail(str(exc), 2)
    try:
        source = InputFile(input_path, src)
    except OSError as exc:
        return _fail(f"cannot read {input_path}: {exc.strerror or exc}")
    except InputError as exc:  # a zstd file without the zstd module
        return _fail(str(exc))
    counts = Counts()
    try:
        with source, OutputFile(output_path) as out:
            if dst.is_otlp and src.is_otlp:
                _otlp_to_otlp(source, out, dst, counts)
            elif dst.is_otlp:
                _events_to_otlp(source, out, dst, counts, args, redactors)
            else:
                _to_events(source, out, dst, counts, args, span_filter, redactors, sessions)
    except InputError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or output_path}: {exc.strerror or exc}")
    if not args.quiet:
        print(f"otel-honeyhive convert: {_count(counts.read, src)} from {input_path} ({src.value}) → "
              f"{_count(counts.written, dst)} in {output_path} ({dst.value})", file=sys.stderr)
    return 0


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
               sessions: str = "trace") -> None:
    writer = event_writer(out, dst)
    stream = EventStream(source, project=args.project, event_source=args.source, max_held_spans=args.max_held_spans,
                         span_filter=span_filter, redactors=redactors, sessions=sessions, sessions_at_end=True)
    for chunk in stream.chunks():
        for event in chunk.events:
            writer.write(event)
        counts.written += len(chunk.events)
    counts.read = stream.items_read
    writer.finish()


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


__all__ = ["EVENTS_PER_REQUEST", "file_sessions", "file_span_filter", "otlp_requests", "run_convert"]
