"""A lossless, compact byte encoding of `LogRecordView`s (orjson), for journaling GenAI log records that wait for
their span (shipping/journal.py).

Values are encoded as span_codec.py encodes span attributes (the same tags for bytes, tuples, lists, maps,
non-finite floats and integers JSON cannot hold), so a record's body (a string, or the structured value an
instrumentation puts there) and its attributes come back as they went. Resources, usually shared by the records
of a request, are written once and shared again on decode.

Layout: `[1, [resource, ...], [record, ...]]`; each record is a positional array (see `_encode_record`). Not on
the hot path: only records still waiting for their span are journaled, and read back only after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.shipping.span_codec import (
    decode_attributes,
    decode_int,
    decode_table,
    decode_value,
    encode_attributes,
    encode_int,
    encode_table,
    encode_value,
)

FORMAT_VERSION = 1


def _encode_record(r: LogRecordView, resource_index: int) -> list[Any]:
    return [
        format(r.trace_id, "x"),
        encode_int(r.span_id),
        r.event_name,
        encode_int(r.time_ns),
        encode_value(r.body),
        encode_attributes(r.attributes),
        encode_int(r.severity_number),
        r.severity_text,
        resource_index,
        r.scope_name,
        r.sampled,
        encode_int(r.masked),
    ]


def encode_records(records: Sequence[LogRecordView]) -> bytes:
    """Encode log records losslessly. Raises TypeError for values no record can hold."""
    return encode_table(records, _encode_record, FORMAT_VERSION)


def decode_records(data: bytes) -> list[LogRecordView]:
    """The inverse of `encode_records`. Raises `CodecError` for bytes it did not produce."""
    return decode_table(data, "log record", _decode_record, FORMAT_VERSION)


def _decode_record(rec: list[Any], resources: list[dict[str, Any]]) -> LogRecordView:
    (tid, sid, event_name, time_ns, body, attributes, severity_number, severity_text, ri, scope_name, sampled,
     masked) = rec
    return LogRecordView(
        trace_id=int(tid, 16),
        span_id=decode_int(sid),
        event_name=event_name,
        time_ns=decode_int(time_ns),
        body=decode_value(body),
        attributes=decode_attributes(attributes),
        severity_number=decode_int(severity_number),
        severity_text=severity_text,
        resource=resources[ri],
        scope_name=scope_name,
        sampled=bool(sampled),
        masked=decode_int(masked),
    )


__all__ = ["FORMAT_VERSION", "decode_records", "encode_records"]
