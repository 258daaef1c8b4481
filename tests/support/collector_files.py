"""Files as the OpenTelemetry Collector's `file` exporter writes them
(https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/fileexporter), made from
real SDK spans with the OTLP exporter's own encoder:

- `format: json`: one OTLP/JSON request per line;
- `format: proto`: each request framed as `exportMessageAsBuffer` frames it, a 4-byte big-endian length then the
  protobuf message;
- `compression: zstd` without the `exporter.file.nativeCompression` feature gate: each message compressed on
  its own (one zstd frame, `EncodeAll`) and framed the same way, JSON included;
- with the gate: the whole file one zstd stream, a frame ended at each flush, the usual framing inside.

Its logs pipeline writes the same framings of `ExportLogsServiceRequest`s (`collector_logs_file`), made from real
SDK log records with the OTLP log exporter's own encoder.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan

from tests.support.compression import zstd

VARIANTS = ("proto", "proto-zstd-messages", "json-zstd-messages", "json-zstd-file", "proto-zstd-file")
"""`format`, and how `compression: zstd` applies: per message (the exporter's default) or to the file (the
feature gate)."""

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def proto_message(spans: Sequence[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializeToString()


def json_message(spans: Sequence[ReadableSpan]) -> bytes:
    """The request as OTLP/JSON: protobuf's JSON mapping, with the ids in hex as OTLP/JSON has them."""
    request = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource in request.get("resourceSpans", ()):
        for scope in resource.get("scopeSpans", ()):
            for span in scope.get("spans", ()):
                for owner in (span, *span.get("links", ())):
                    for key in _ID_KEYS:
                        if key in owner:
                            owner[key] = base64.b64decode(owner[key]).hex()
    return orjson.dumps(request)


def framed(message: bytes) -> bytes:
    """`exportMessageAsBuffer`: the message's length as a big-endian uint32, then the message."""
    return len(message).to_bytes(4, "big") + message


def logs_proto_message(records: Sequence[ReadableLogRecord]) -> bytes:
    return encode_logs(records).SerializeToString()


def logs_json_message(records: Sequence[ReadableLogRecord]) -> bytes:
    """The logs request as OTLP/JSON, ids in hex."""
    request = MessageToDict(encode_logs(records), use_integers_for_enums=True)
    for resource in request.get("resourceLogs", ()):
        for scope in resource.get("scopeLogs", ()):
            for record in scope.get("logRecords", ()):
                for key in ("traceId", "spanId"):
                    if key in record:
                        record[key] = base64.b64decode(record[key]).hex()
    return orjson.dumps(request)


def collector_file(batches: Sequence[Sequence[ReadableSpan]], variant: str, *, frame_every: int = 2) -> bytes:
    """The bytes the exporter writes for these batches (one request each); a whole-file zstd stream ends a frame
    every `frame_every` requests, as its flushes do."""
    is_json = variant.startswith("json")
    return _framed_file([json_message(b) if is_json else proto_message(b) for b in batches], variant, frame_every)


def collector_logs_file(batches: Sequence[Sequence[ReadableLogRecord]], variant: str, *,
                        frame_every: int = 2) -> bytes:
    """The bytes the exporter's logs pipeline writes for these batches of records (one request each)."""
    is_json = variant.startswith("json")
    return _framed_file([logs_json_message(b) if is_json else logs_proto_message(b) for b in batches], variant,
                        frame_every)


def write_collector_logs_file(directory: Path, batches: Sequence[Sequence[ReadableLogRecord]], variant: str) -> Path:
    path = directory / name_for(variant).replace("traces", "logs")
    path.write_bytes(collector_logs_file(batches, variant))
    return path


def _framed_file(messages: list[bytes], variant: str, frame_every: int) -> bytes:
    is_json = variant.startswith("json")
    if variant.endswith("zstd-messages"):
        return b"".join(framed(zstd.compress(m)) for m in messages)
    entries = [m + b"\n" if is_json else framed(m) for m in messages]
    if variant.endswith("zstd-file"):
        frames = [zstd.compress(b"".join(entries[i:i + frame_every])) for i in range(0, len(entries), frame_every)]
        return b"".join(frames)
    return b"".join(entries)


def name_for(variant: str) -> str:
    """What such a file is called here: the format's suffix, `.zst` for a zstd file."""
    base = "traces.otlp.jsonl" if variant.startswith("json") else "traces.otlp.binpb"
    return base + ".zst" if variant.endswith("zstd-file") else base


def write_collector_file(directory: Path, batches: Sequence[Sequence[ReadableSpan]], variant: str) -> Path:
    path = directory / name_for(variant)
    path.write_bytes(collector_file(batches, variant))
    return path


def write_jsonl(path: Path, batches: Sequence[Sequence[ReadableSpan]]) -> Path:
    """The same requests as `format: json` without compression: the format read before."""
    path.write_bytes(b"".join(json_message(b) + b"\n" for b in batches))
    return path


__all__ = ["VARIANTS", "collector_file", "collector_logs_file", "framed", "json_message", "logs_json_message",
           "logs_proto_message", "name_for", "proto_message", "write_collector_file", "write_collector_logs_file",
           "write_jsonl", "zstd"]
