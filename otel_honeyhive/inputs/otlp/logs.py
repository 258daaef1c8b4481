"""OTLP logs → `LogRecordView`: an `ExportLogsServiceRequest` as protobuf (gRPC, OTLP/HTTP) or OTLP/JSON.

GenAI instrumentations may put prompts and completions only in log records (core/log_records.py); the receiver
reads every record of a request into the one shape the pipeline joins to spans. Not on the compiled hot path:
logs are a small share of what the receiver reads, so the protobuf side goes through upb's message objects, the
reference the trace decoders are held to, and the JSON side walks the orjson document with the trace JSON
decoder's value readers (hex ids, int64 as strings, enum names or numbers, camelCase or snake_case keys).

What both produce, record by record:

- `event_name`: the record's `event_name` field (OTLP 1.5+), else its `event.name` attribute (`event_name_of`);
- `time_ns`: `time_unix_nano`, else `observed_time_unix_nano`;
- `body`: the `AnyValue` as plain Python (arrays as lists, kvlists as dicts; None when unset); attributes and
  resource as the span decoders read them (arrays as tuples, as the SDK holds attributes);
- ids: empty means the record names no span (0); a trace id that is not 16 bytes or a span id that is not 8 is
  a record that cannot be used: counted as rejected with the reason (`partial_success`), the others kept;
- `sampled`: the W3C sampled bit of the record's `flags`, which the SDKs set from the span's context: a record
  naming a span its sampler dropped would wait for a span that is never exported. Protobuf cannot tell flags
  left unset from 0 (not sampled); OTLP/JSON, often written by hand, can: a JSON record without `flags` is
  taken as sampled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1 import logs_pb2

from otel_honeyhive.core.log_records import LogRecordView, event_name_of
from otel_honeyhive.inputs.otlp import decode_json as json_values
from otel_honeyhive.inputs.otlp import decode_proto as proto_values
from otel_honeyhive.inputs.otlp.decoded import MAX_DEPTH, partial_success_message
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError

_SAMPLED = 0x01
"""The W3C trace flags' sampled bit, the low byte of a log record's `flags`."""

_SEVERITY_BY_NAME: dict[str, int] = {str(name): int(number) for name, number in logs_pb2.SeverityNumber.items()}
"""`SEVERITY_NUMBER_WARN` → 13, as OTLP/JSON may write the enum."""


@dataclass(slots=True)
class LogsDecodeResult:
    """Records that decoded, and what was refused (for the OTLP `partial_success` answer)."""

    records: list[LogRecordView] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        return partial_success_message(self.errors)


def _plain(value: Any) -> Any:
    """An attribute-style value (arrays as tuples) as a body: arrays as lists, all the way down."""
    if type(value) is tuple:
        return [_plain(item) for item in value]
    if type(value) is dict:
        return {key: _plain(item) for key, item in value.items()}
    return value


def _record_name(event_name: str | None, index: int) -> str:
    return f"log record {event_name[:100]!r}" if event_name else f"log record #{index}"


def _sampled(span_id: int, flags: int | None) -> bool:
    """Whether the record's span was sampled: its flags' sampled bit; True when it names no span, or when the
    flags are absent (None: an OTLP/JSON record without them)."""
    return not span_id or flags is None or bool(flags & _SAMPLED)


def _view(
    *, trace_id: int, span_id: int, event_name: str | None, attributes: Mapping[str, Any], time_ns: int,
    observed_ns: int, body: Any, severity_number: int, severity_text: str, resource: Mapping[str, Any],
    scope_name: str | None, flags: int | None,
) -> LogRecordView:
    return LogRecordView(
        trace_id=trace_id,
        span_id=span_id,
        event_name=event_name_of(event_name, attributes),
        time_ns=time_ns or observed_ns,
        body=_plain(body),
        attributes=attributes,
        severity_number=severity_number,
        severity_text=severity_text or None,
        resource=resource,
        scope_name=scope_name,
        sampled=_sampled(span_id, flags),
    )


# -- protobuf ----------------------------------------------------------------------------------------------------


def _proto_id_problem(name: str, value: bytes, size: int) -> str | None:
    if len(value) not in (0, size):
        return f"{name} must be {size} bytes or empty, got {len(value)}"
    return None


def decode_logs_request(request: ExportLogsServiceRequest) -> LogsDecodeResult:
    """Every record of a parsed request as a `LogRecordView`; records with unusable ids are counted as rejected."""
    result = LogsDecodeResult()
    append = result.records.append
    index = 0
    for resource_logs in cast(Iterable[Any], request.resource_logs):
        resource = proto_values._attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope_name = (scope_logs.scope.name or None) if scope_logs.HasField("scope") else None
            for record in scope_logs.log_records:
                index += 1
                tid: bytes = record.trace_id
                sid: bytes = record.span_id
                problem = _proto_id_problem("trace_id", tid, 16) or _proto_id_problem("span_id", sid, 8)
                attributes = proto_values._attributes(record.attributes)
                event_name: str = record.event_name
                if problem is not None:
                    result.rejected += 1
                    result.errors.append(f"{_record_name(event_name_of(event_name, attributes), index)}: {problem}")
                    continue
                body = proto_values._any_value(record.body) if record.HasField("body") else None
                append(_view(
                    trace_id=int.from_bytes(tid, "big"), span_id=int.from_bytes(sid, "big"), event_name=event_name,
                    attributes=attributes, time_ns=record.time_unix_nano,
                    observed_ns=record.observed_time_unix_nano, body=body, severity_number=record.severity_number,
                    severity_text=record.severity_text, resource=resource, scope_name=scope_name,
                    flags=record.flags,
                ))
    return result


def decode_logs_protobuf(body: bytes) -> LogsDecodeResult:
    """Decode a serialized `ExportLogsServiceRequest` (an OTLP/HTTP body after decompression, or a gRPC
    request's bytes); `OtlpDecodeError` saying why when it is not one."""
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError (untyped module); nothing else runs in this block
        raise OtlpDecodeError(f"invalid OTLP logs protobuf: {exc}") from None
    try:
        return decode_logs_request(request)
    except RecursionError:  # pragma: no cover - upb bounds nesting before this could
        raise OtlpDecodeError(f"a value nested deeper than {MAX_DEPTH} levels") from None


# -- OTLP/JSON ---------------------------------------------------------------------------------------------------

_Bad = json_values._Bad


def _json_id(value: Any, name: str, size: int) -> tuple[int, str | None]:
    """A hex id (empty or absent: 0), or the problem that makes the record unusable."""
    if value is None or value == "":
        return 0, None
    number = json_values._hex_id(value, size)
    if number is None:
        shown = value[:40] if type(value) is str else value
        return 0, f"{name} must be {size * 2} hex digits or empty, got {shown!r}"
    return number, None


def _json_record(
    record: dict[str, Any], index: int, resource: Mapping[str, Any], scope_name: str | None
) -> LogRecordView | str:
    """One log record object → view, or a string saying why its ids make it unusable."""
    event_name = json_values._string(json_values._get(record, "eventName", "event_name")[0], "eventName")
    attributes = json_values._attributes(record.get("attributes"))
    tid, problem = _json_id(json_values._get(record, "traceId", "trace_id")[0], "trace_id", 16)
    sid, span_problem = _json_id(json_values._get(record, "spanId", "span_id")[0], "span_id", 8)
    problem = problem or span_problem
    if problem is not None:
        return f"{_record_name(event_name_of(event_name, attributes), index)}: {problem}"
    severity, key = json_values._get(record, "severityNumber", "severity_number")
    raw_body = record.get("body")
    try:
        body = None if raw_body is None else json_values._any_value(json_values._object(raw_body, ""), 0)
    except _Bad as bad:
        raise bad.under("body") from None
    return _view(
        trace_id=tid, span_id=sid, event_name=event_name, attributes=attributes,
        time_ns=json_values._u64(record, "timeUnixNano", "time_unix_nano"),
        observed_ns=json_values._u64(record, "observedTimeUnixNano", "observed_time_unix_nano"),
        body=body,
        severity_number=json_values._enum(severity, key, _SEVERITY_BY_NAME) if severity is not None else 0,
        severity_text=json_values._string(json_values._get(record, "severityText", "severity_text")[0],
                                          "severityText"),
        resource=resource, scope_name=scope_name,
        flags=None if record.get("flags") is None else json_values._u32(record, "flags", "flags"),
    )


def _json_walk(doc: dict[str, Any], result: LogsDecodeResult) -> None:
    resource_logs, rkey = json_values._get(doc, "resourceLogs", "resource_logs")
    try:
        resource_logs = json_values._array(resource_logs, rkey)
    except _Bad as bad:
        raise OtlpDecodeError(f"{bad.path('')}: {bad.message}") from None
    index = 0
    for i, rl in enumerate(resource_logs):
        rl_path = f"{rkey}[{i}]"
        try:
            resource = json_values._resource(json_values._object(rl, ""))
            groups = [
                json_values._get(rl, "scopeLogs", "scope_logs"),
                json_values._get(rl, "instrumentationLibraryLogs", "instrumentation_library_logs"),  # OTLP < 0.15
            ]
            for scope_logs, skey in groups:
                json_values._array(scope_logs, skey)
        except _Bad as bad:
            raise OtlpDecodeError(f"{bad.path(rl_path)}: {bad.message}") from None
        for scope_logs, skey in groups:
            for j, sl in enumerate(scope_logs or ()):
                sl_path = f"{rl_path}.{skey}[{j}]"
                try:
                    scope_name, _ = json_values._scope(json_values._object(sl, ""))
                    records, lkey = json_values._get(sl, "logRecords", "log_records")
                    records = json_values._array(records, lkey)
                except _Bad as bad:
                    raise OtlpDecodeError(f"{bad.path(sl_path)}: {bad.message}") from None
                for k, record in enumerate(records):
                    index += 1
                    try:
                        view = _json_record(json_values._object(record, ""), index, resource, scope_name)
                    except _Bad as bad:
                        raise OtlpDecodeError(f"{bad.path(f'{sl_path}.{lkey}[{k}]')}: {bad.message}") from None
                    if isinstance(view, str):
                        result.rejected += 1
                        result.errors.append(view)
                    else:
                        result.records.append(view)


def decode_logs_json(body: bytes) -> LogsDecodeResult:
    """Decode an OTLP/JSON `ExportLogsServiceRequest` body (after decompression); `OtlpDecodeError` naming the
    JSON path of what is wrong when it is not one. Records with unusable ids are rejected one by one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"invalid JSON: {exc}") from None
    if type(doc) is not dict:
        raise OtlpDecodeError("expected a JSON object (an ExportLogsServiceRequest)")
    result = LogsDecodeResult()
    try:
        _json_walk(doc, result)
    except RecursionError:  # pragma: no cover - depth is bounded by MAX_DEPTH and orjson's own limit
        raise OtlpDecodeError("JSON nested too deeply") from None
    return result


__all__ = ["LogsDecodeResult", "decode_logs_json", "decode_logs_protobuf", "decode_logs_request"]
