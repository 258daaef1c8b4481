"""Streaming writers: events and OTLP requests into a file, one at a time, committed atomically.

Output goes to a temporary file beside the target and is renamed over it only on success, so a failed or
interrupted conversion never leaves a partial file behind (nor destroys an existing one). A JSON array is written
incrementally (`[`, elements separated by `,`, `]`), one element per line so the result is also easy to grep.
"""

from __future__ import annotations

import base64
import gzip
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol, cast

import orjson
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.file_formats import Format, is_gzip_name
from otel_honeyhive.core.jsonable import dumps

FLUSH_BYTES = 1 << 20
"""Small writes are gathered up to this size: one gzip `write` per chunk instead of one per event."""

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


class OutputFile:
    """A file being written: `write` bytes, then `commit()` (rename into place) or `abort()` (remove).

    As a context manager it commits when the block succeeds and aborts when it raises."""

    def __init__(self, path: Path, *, compress: bool | None = None) -> None:
        self.path = path
        self.compress = is_gzip_name(path) if compress is None else compress
        self.tmp_path = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        # Owner-only, like the store and the spool: what is written here is prompts and completions.
        try:
            fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:  # named as the file asked for, not the temporary one beside it
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
        self._raw: IO[bytes] = os.fdopen(fd, "wb")  # closed by commit()/abort()
        self._stream: IO[bytes] = (
            cast(IO[bytes], gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6, mtime=0))
            if self.compress
            else self._raw
        )
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._closed = False
        self.bytes_written = 0
        """Uncompressed bytes written so far."""

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        self.bytes_written += len(data)
        if self._pending_bytes >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._stream.write(b"".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._stream is not self._raw:
                self._stream.close()
        finally:
            self._raw.close()

    def commit(self) -> None:
        """Flush, sync and rename the file into place."""
        if self._closed:
            return
        try:
            self._flush()
            if self._stream is not self._raw:
                self._stream.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
        except BaseException:
            self.abort()
            raise
        self._close()
        os.replace(self.tmp_path, self.path)

    def abort(self) -> None:
        """Drop everything written: the target is left as it was."""
        try:
            self._close()
        finally:
            self.tmp_path.unlink(missing_ok=True)


class EventWriter(Protocol):
    def write(self, event: Event) -> None: ...

    def finish(self) -> None:
        """Write what closes the document (not the file: `OutputFile.commit` does that)."""


class NdjsonEventWriter:
    """One event per line."""

    def __init__(self, out: OutputFile) -> None:
        self.out = out
        self.count = 0

    def write(self, event: Event) -> None:
        self.out.write(dumps(event) + b"\n")
        self.count += 1

    def finish(self) -> None:
        pass


class JsonArrayEventWriter:
    """A JSON array written element by element."""

    def __init__(self, out: OutputFile) -> None:
        self.out = out
        self.count = 0

    def write(self, event: Event) -> None:
        self.out.write(b",\n" if self.count else b"[\n")
        self.out.write(dumps(event))
        self.count += 1

    def finish(self) -> None:
        self.out.write(b"\n]\n" if self.count else b"[]\n")


def event_writer(out: OutputFile, fmt: Format) -> EventWriter:
    if fmt is Format.EVENTS_NDJSON:
        return NdjsonEventWriter(out)
    if fmt is Format.EVENTS_JSON:
        return JsonArrayEventWriter(out)
    raise ValueError(f"{fmt.value} is not an events format")


def _hex(value: Any) -> Any:
    return base64.b64decode(value).hex() if isinstance(value, str) else value


def hex_ids(request: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the ids of a `MessageToDict` request as hex: protobuf's JSON mapping writes `bytes` fields as
    base64, OTLP/JSON requires hex (the one place where it departs from the standard mapping)."""
    for resource_spans in request.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                for key in _ID_KEYS:
                    if key in span:
                        span[key] = _hex(span[key])
                for link in span.get("links", ()):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = _hex(link[key])
    return request


def spans_to_otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """SDK spans as one OTLP/JSON `ExportTraceServiceRequest`, encoded exactly as the OTLP exporters encode
    them (enums as integers, 64-bit integers as strings, ids as hex)."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return hex_ids(MessageToDict(encode_spans(spans), use_integers_for_enums=True))


def protobuf_to_otlp_json(body: bytes) -> dict[str, Any]:
    """A protobuf `ExportTraceServiceRequest` as the same request in OTLP/JSON, encoded as `spans_to_otlp_json`
    encodes one (enums as integers, 64-bit integers as strings, ids as hex)."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return hex_ids(MessageToDict(ExportTraceServiceRequest.FromString(body), use_integers_for_enums=True))


class OtlpWriter(Protocol):
    def write(self, request: dict[str, Any]) -> None: ...

    def finish(self) -> None: ...


class OtlpJsonlWriter:
    """One request per line (the Collector `file` exporter's format)."""

    def __init__(self, out: OutputFile) -> None:
        self.out = out
        self.count = 0

    def write(self, request: dict[str, Any]) -> None:
        self.out.write(orjson.dumps(request, option=orjson.OPT_APPEND_NEWLINE))
        self.count += 1

    def finish(self) -> None:
        pass


class OtlpJsonWriter:
    """One request for the whole file: the `resourceSpans` of every request written, streamed into one array."""

    def __init__(self, out: OutputFile) -> None:
        self.out = out
        self.count = 0

    def write(self, request: dict[str, Any]) -> None:
        resource_spans = request.get("resourceSpans")
        if resource_spans is None:
            resource_spans = request.get("resource_spans") or []
        for item in resource_spans:
            self.out.write(b",\n" if self.count else b'{"resourceSpans": [\n')
            self.out.write(orjson.dumps(item))
            self.count += 1

    def finish(self) -> None:
        self.out.write(b"\n]}\n" if self.count else b'{"resourceSpans": []}\n')


def otlp_writer(out: OutputFile, fmt: Format) -> OtlpWriter:
    if fmt is Format.OTLP_JSONL:
        return OtlpJsonlWriter(out)
    if fmt is Format.OTLP_JSON:
        return OtlpJsonWriter(out)
    raise ValueError(f"{fmt.value} is not an OTLP format")


__all__ = [
    "EventWriter",
    "JsonArrayEventWriter",
    "NdjsonEventWriter",
    "OtlpJsonWriter",
    "OtlpJsonlWriter",
    "OtlpWriter",
    "OutputFile",
    "event_writer",
    "hex_ids",
    "otlp_writer",
    "protobuf_to_otlp_json",
    "spans_to_otlp_json",
]
