"""`otel-honeyhive explain FILE`: the event each span of an OTLP file becomes, and why each attribute landed
where it did (docs/mapping.md#explaining-a-mapping)."""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import zlib
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from otel_honeyhive.cli.convert import file_span_filter
from otel_honeyhive.cli.render import many
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.core.zstd import MAGIC as ZSTD_MAGIC
from otel_honeyhive.inputs.files.readers import MAX_ENTRY_BYTES, unzstd
from otel_honeyhive.inputs.otlp.decode_json import decode_json
from otel_honeyhive.inputs.otlp.decode_proto import decode_protobuf
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from otel_honeyhive.mapper.explain import SpanExplanation, explain
from otel_honeyhive.pipeline.masking import Masker
from otel_honeyhive.server.config import resolve_redactors, resolve_sessions

MAX_INPUT_BYTES = 256 * 1024 * 1024
"""An explanation is read whole: larger files are refused with a message, not read into memory."""
_SHOWN_CHARS = 60
_STYLES = {"won": "green", "merged": "green", "shadowed": "yellow", "same as the winner": "dim",
           "metadata": "cyan", "read": "dim", "refused": "red"}


class ExplainInputError(ValueError):
    """The input is not an OTLP trace export (the message names the file and the problem)."""


def read_spans(data: bytes, name: str) -> list[SpanView]:
    """The spans of an OTLP/JSON request, OTLP/JSON lines (one request per line), an OTLP protobuf
    `ExportTraceServiceRequest`, or a length-prefixed file of requests (the Collector `file` exporter's
    `format: proto`, and its per-message zstd), gzip- or zstd-compressed or not."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ExplainInputError(f"{name}: not a readable gzip file ({exc})") from None
    elif data[:4] == ZSTD_MAGIC:
        data = _unzstd(data, name, "zstd file")
    entries = _entries(data, name)
    if entries is not None:
        spans: list[SpanView] = []
        for number, entry in enumerate(entries, 1):
            where = f"{name}: entry {number}"
            if entry[:4] == ZSTD_MAGIC:
                entry = _unzstd(entry, where, "zstd frame")
            spans.extend(_json_spans(entry.lstrip(), where) if entry.lstrip()[:1] == b"{" else
                         _protobuf_spans(entry, where))
        return spans
    text = data.lstrip()
    if text[:1] in (b"{", b"["):
        return _json_spans(text, name)
    return _protobuf_spans(data, name)


def _unzstd(data: bytes, name: str, what: str) -> bytes:
    try:
        return unzstd(data, MAX_INPUT_BYTES, "an explained file")
    except ValueError as exc:
        raise ExplainInputError(f"{name}: not a readable {what} ({exc})") from None


def _entries(data: bytes, name: str) -> list[bytes] | None:
    """The entries of a length-prefixed file (each a 4-byte big-endian length, then that many bytes) when its
    lengths lead exactly to its end; None when the first does not fit (JSON text, or a single protobuf request,
    whose first bytes read as a length point past the end, or past what an entry may hold). A file whose first
    entry fits and may be one is length-prefixed: a later one that does not fit is the file cut short, named as
    `convert` names it."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        if at + 4 > len(data) or at + 4 + size > len(data):
            if not entries or int.from_bytes(data[:4], "big") > MAX_ENTRY_BYTES:
                return None
            have = len(data) - at
            raise ExplainInputError(
                f"{name}: entry {len(entries) + 1}: file cut short: "
                + (f"{have} of the 4 bytes of the entry's length" if have < 4 else
                   f"{have - 4} of the entry's {size} bytes"))
        entries.append(data[at + 4:at + 4 + size])
        at += 4 + size
    return entries or None


def _protobuf_spans(data: bytes, name: str) -> list[SpanView]:
    try:
        result = decode_protobuf(data)
    except OtlpDecodeError as exc:
        raise ExplainInputError(f"{name}: neither OTLP/JSON nor an OTLP protobuf ExportTraceServiceRequest "
                                f"({exc})") from None
    if result.errors:
        raise ExplainInputError(f"{name}: unusable span: {result.errors[0]}")
    return result.spans


def _json_spans(text: bytes, name: str) -> list[SpanView]:
    try:
        results = [decode_json(text)]
    except OtlpDecodeError as whole:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise ExplainInputError(f"{name}: not an OTLP/JSON ExportTraceServiceRequest ({whole})") from None
        results = []
        for number, line in enumerate(lines, 1):
            try:
                results.append(decode_json(line))
            except OtlpDecodeError as exc:
                raise ExplainInputError(f"{name}: request {number}: not an OTLP/JSON ExportTraceServiceRequest "
                                        f"({exc})") from None
    spans: list[SpanView] = []
    for result in results:
        if result.errors:
            raise ExplainInputError(f"{name}: unusable span: {result.errors[0]}")
        spans.extend(result.spans)
    empty = not bytes(c for c in text if c not in b" \t\r\n{}")  # `{}`: an empty request, no spans
    if not spans and not empty and b"esourceSpans" not in text and b"resource_spans" not in text:  # not OTLP
        raise ExplainInputError(f"{name}: not an OTLP/JSON ExportTraceServiceRequest: no resourceSpans (a file of "
                                "events? explain reads the OTLP spans events are made from)")
    return spans


def _read(path: str) -> tuple[bytes, str]:
    if path == "-":
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        name = "stdin"
    else:
        file = Path(path)
        try:
            with file.open("rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise ExplainInputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        name = path
    if len(data) > MAX_INPUT_BYTES:
        raise ExplainInputError(f"{name}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB; split it "
                                "(explain reads its input whole)")
    return data, name


def _shown(value: Any, full: bool) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    if not full and len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    return escape(text)


def _table(explanation: SpanExplanation, full: bool) -> RenderableType:
    event = explanation.event
    title = (f"[bold]{escape(explanation.span_name)}[/] (span {explanation.span_id}) → "
             f"[bold]{event.get('event_type')}[/] event {event.get('event_id')}")
    caption = f"type: {explanation.type_reason}"
    if explanation.session_reason:
        caption += f"\nsession: {explanation.session_reason}"
    if not explanation.decisions:  # an event carried whole: no attribute was routed
        return Text.from_markup(f"{title}\n{escape(caption)}")
    table = Table(title=title, title_justify="left", caption=escape(caption), caption_justify="left", expand=False)
    table.add_column("attribute", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_column("→ field", overflow="fold")
    table.add_column("rule (rank)", overflow="fold")
    table.add_column("outcome", overflow="fold")
    for d in explanation.decisions:
        if d.outcome == "shadowed":
            outcome = f"shadowed: metadata[{d.kept_as}]"
        elif d.outcome in ("metadata", "refused"):
            outcome = f"{d.outcome}: metadata[{d.kept_as}]"
        else:
            outcome = d.outcome
        rule = f"{d.rule} ({d.rank})" if d.rank is not None else d.rule
        table.add_row(escape(d.key), _shown(d.value, full), escape(d.target or ""), escape(rule),
                      f"[{_STYLES.get(d.outcome, '')}]{escape(outcome)}[/]")
    return table


def with_log_records(spans: list[SpanView], paths: list[Path]) -> list[SpanView]:
    """The spans with the GenAI log records of the `--logs` files that name them joined, as the pipeline joins
    them (mapper/log_records.py: details as the attributes a span lacks, messages as its span events); records
    naming no span of FILE are left out. ExplainInputError (one line naming the file and line or entry) for a
    file that cannot be read."""
    from otel_honeyhive.core.file_formats import Format, detect_format
    from otel_honeyhive.core.log_records import LogRecordView
    from otel_honeyhive.inputs.files.readers import InputError, InputFile
    from otel_honeyhive.mapper.log_records import join, kind_of

    wanted = {(span.trace_id, span.span_id) for span in spans}
    records: dict[tuple[int, int], list[LogRecordView]] = {}
    for path in paths:
        try:
            fmt = detect_format(path)
        except ValueError:
            fmt = Format.OTLP_JSONL
        try:
            with InputFile(path, fmt if fmt.is_otlp else Format.OTLP_JSONL) as logs:
                for request in logs.logs():
                    for record in request.value.records:
                        key = (record.trace_id, record.span_id)
                        if key in wanted and record.sampled and kind_of(record) is not None:
                            records.setdefault(key, []).append(record)
        except OSError as exc:
            raise ExplainInputError(f"cannot read {path}: {exc.strerror or exc}") from None
        except InputError as exc:
            raise ExplainInputError(str(exc)) from None
    return [join(span, records[key]) if (key := (span.trace_id, span.span_id)) in records else span
            for span in spans]


def run_explain(args: argparse.Namespace) -> int:
    try:
        data, name = _read(args.input)
        spans = read_spans(data, name)
        if args.logs:
            spans = with_log_records(spans, args.logs)
    except ExplainInputError as exc:
        print(f"otel-honeyhive explain: {exc}", file=sys.stderr)
        return 1
    try:
        sessions = resolve_sessions(args.sessions, os.environ)
        span_filter = file_span_filter(args, True, "")
        redactors = resolve_redactors(args.redact, args.redact_regex, os.environ)
    except ValueError as exc:
        print(f"otel-honeyhive explain: {exc}", file=sys.stderr)
        return 2
    if redactors:  # as the exporter masks them, before mapping: what is shown is what would ship
        spans = Masker(redactors).spans(spans)
    explanations = explain(spans, project=args.project, source=args.source or "dev", sessions=sessions,
                           span_filter=span_filter)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps([e.as_dict() for e in explanations],
                                             option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
        return 0
    console = Console(highlight=False, soft_wrap=False)
    if not explanations:
        console.print(f"{escape(name)}: no spans")
        return 0
    for explanation in explanations:
        console.print(_table(explanation, args.full))
        console.print()
    dropped = f", {len(spans) - len(explanations)} dropped by the span filter" if span_filter is not None else ""
    console.print(f"{many(len(spans), 'span')}, {many(len(explanations), 'event')} explained{dropped}; `--json` "
                  "gives every decision and the events in full")
    return 0


__all__ = ["ExplainInputError", "read_spans", "run_explain", "with_log_records"]
