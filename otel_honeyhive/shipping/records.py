"""The spool's record format: one queued operation (a batch of events, an update, or the journal's spans or log
records) as bytes with a header and a checksum, so that a torn or corrupted file is recognised, never misread.

A record file is a 16-byte header followed by a payload::

    offset 0   4 bytes  magic b"OHHS"
    offset 4   1 byte   format version: how the payload is laid out (1 or 2)
    offset 5   3 bytes  reserved (zero)
    offset 8   4 bytes  payload length, big-endian unsigned
    offset 12  4 bytes  crc32 of the payload, big-endian unsigned

Version 1: the payload is one JSON object, `{"kind": "events", "events": [...]}`,
`{"kind": "update", "event_id": "...", "fields": {...}}` (with `"project"` when the update names the project whose
key it goes with), or (the held-span journal, shipping/journal.py) `{"kind": "spans", "spans": <span_codec.py
document>}` and `{"kind": "records", "records": <log_codec.py document>}` (GenAI log records waiting for their span).

Version 2 (events already encoded, as the exporter and the receiver hand them over): one JSON line,
`{"kind": "events", "blocks": [[size, count, opens_session, session_id], ...]}`, then each block's bytes as
`encoded.EventBlock` holds them (a JSON array of the events of one session, ending in `,0]`). The shipper
sends those bytes as they are: decoding a batch into dicts and encoding it again cost more CPU than mapping
it, and the dicts, alive until the send, set off full garbage collections. Both versions are read.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from otel_honeyhive.core.encoded import EncodedEvents, EventBlock, is_encoded
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.shipping.log_codec import decode_records, encode_records
from otel_honeyhive.shipping.span_codec import CodecError, decode_views, encode_views

MAGIC = b"OHHS"
FORMAT_VERSION = 1
"""The payload is one JSON object."""
BLOCKS_VERSION = 2
"""The payload is an index line, then encoded event blocks."""
_HEADER = struct.Struct(">4sB3xII")
HEADER_SIZE = _HEADER.size  # 16
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS



class CorruptRecordError(ValueError):
    """A record failed its header, checksum or schema check (a torn write, a disk fault, a stray file)."""


class RecordEncodeError(ValueError):
    """The operation cannot be represented as JSON (for example an integer beyond 64 bits)."""


def _fallback(value: Any) -> Any:
    """Keep odd attribute values (sets, Decimals, custom objects) rather than refusing the whole batch."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


@dataclass(frozen=True)
class SpoolRecord:
    """One queued operation: a batch of events to send, one `PUT /events` update, or (in the held-span
    journal) the spans, or the GenAI log records, of one accepted request left waiting."""

    kind: Literal["events", "update", "spans", "records"]
    events: Sequence[Event] = field(default_factory=list)
    """A list, or `EncodedEvents` as the exporter and the receiver hand them over (written without re-encoding)."""
    update: Update | None = None
    spans: list[SpanView] = field(default_factory=list)
    records: list[LogRecordView] = field(default_factory=list)

    @classmethod
    def of_events(cls, events: Sequence[Event]) -> SpoolRecord:
        return cls("events", events if is_encoded(events) else list(events))

    @classmethod
    def of_update(cls, update: Update) -> SpoolRecord:
        return cls("update", update=update)

    @classmethod
    def of_spans(cls, spans: Sequence[SpanView]) -> SpoolRecord:
        return cls("spans", spans=list(spans))

    @classmethod
    def of_records(cls, records: Sequence[LogRecordView]) -> SpoolRecord:
        return cls("records", records=list(records))

    def encode(self) -> bytes:
        """Header + payload, ready to write; raises `RecordEncodeError` for values JSON cannot carry."""
        if self.kind == "events" and is_encoded(self.events) and self.events.blocks:
            version, payload = BLOCKS_VERSION, _blocks_payload(self.events.blocks)
        else:
            version, payload = FORMAT_VERSION, self._payload()
        return _HEADER.pack(MAGIC, version, len(payload), zlib.crc32(payload)) + payload

    def _payload(self) -> bytes:
        body: dict[str, Any]
        if self.kind == "spans":
            try:
                return b'{"kind":"spans","spans":' + encode_views(self.spans) + b"}"
            except (TypeError, orjson.JSONEncodeError) as exc:
                raise RecordEncodeError(f"cannot encode spans record: {exc}") from None
        if self.kind == "records":
            try:
                return b'{"kind":"records","records":' + encode_records(self.records) + b"}"
            except (TypeError, orjson.JSONEncodeError) as exc:
                raise RecordEncodeError(f"cannot encode log records record: {exc}") from None
        if self.kind == "events":
            body = {"kind": "events", "events": list(self.events)}
        elif self.kind == "update" and self.update is not None:
            body = {"kind": "update", "event_id": self.update.event_id, "fields": self.update.fields}
            if self.update.project is not None:
                body["project"] = self.update.project
        else:
            raise RecordEncodeError(f"not a valid spool record: kind={self.kind!r}")
        try:
            return orjson.dumps(body, default=_fallback, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError as exc:
            raise RecordEncodeError(f"cannot encode {self.kind} record as JSON: {exc}") from None

    @classmethod
    def decode(cls, data: bytes) -> SpoolRecord:
        """The inverse of `encode`; raises `CorruptRecordError` saying what is wrong."""
        if len(data) < HEADER_SIZE:
            raise CorruptRecordError(f"truncated header ({len(data)} of {HEADER_SIZE} bytes)")
        magic, version, length, crc = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise CorruptRecordError(f"bad magic {magic!r}")
        if version not in (FORMAT_VERSION, BLOCKS_VERSION):
            raise CorruptRecordError(f"unsupported format version {version}")
        payload = data[HEADER_SIZE:]
        if len(payload) != length:
            raise CorruptRecordError(f"payload is {len(payload)} bytes, header says {length}")
        if zlib.crc32(payload) != crc:
            raise CorruptRecordError("checksum mismatch")
        if version == BLOCKS_VERSION:
            return cls("events", _read_blocks(payload))
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise CorruptRecordError(f"payload is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise CorruptRecordError("payload is not a JSON object")
        kind = body.get("kind")
        if kind == "events":
            events = body.get("events")
            if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
                raise CorruptRecordError("events record without a list of event objects")
            return cls("events", events)
        if kind == "update":
            event_id, fields, project = body.get("event_id"), body.get("fields"), body.get("project")
            if not isinstance(event_id, str) or not isinstance(fields, dict):
                raise CorruptRecordError("update record without event_id and fields")
            return cls("update", update=Update(event_id, fields, project if isinstance(project, str) else None))
        if kind == "spans":
            try:  # replay only (after a restart): re-serialising the parsed part costs nothing that matters
                return cls("spans", spans=decode_views(orjson.dumps(body.get("spans"))))
            except CodecError as exc:
                raise CorruptRecordError(str(exc)) from None
        if kind == "records":
            try:
                return cls("records", records=decode_records(orjson.dumps(body.get("records"))))
            except CodecError as exc:
                raise CorruptRecordError(str(exc)) from None
        raise CorruptRecordError(f"unknown record kind {kind!r}")

    @property
    def event_count(self) -> int:
        return len(self.events) if self.kind == "events" else 0

    def refused_part(self, refused: Collection[str]) -> SpoolRecord | None:
        """The events of this record a partial refusal named (`SendResult.refused`), as a record of their own to
        set aside while the rest counts as delivered; None when the refusal is the whole record's (not an events
        record, or the ids name none or all of its events)."""
        if self.kind != "events" or not refused:
            return None
        named = set(refused)
        part = [e for e in self.events if e.get("event_id") in named]
        return SpoolRecord.of_events(part) if 0 < len(part) < len(self.events) else None


def _blocks_payload(blocks: Sequence[EventBlock]) -> bytes:
    try:
        index = orjson.dumps(
            {"kind": "events",
             "blocks": [[len(b.data), b.count, b.opens_session, b.session_id] for b in blocks]},
            default=_fallback, option=_ORJSON_OPTIONS,
        )
    except orjson.JSONEncodeError as exc:
        raise RecordEncodeError(f"cannot encode events record as JSON: {exc}") from None
    return b"".join([index, b"\n", *(b.data for b in blocks)])


def _read_blocks(payload: bytes) -> EncodedEvents:
    """A version-2 payload's blocks; `CorruptRecordError` saying what is wrong."""
    end = payload.find(b"\n")
    if end < 0:
        raise CorruptRecordError("blocks record without its index line")
    try:
        index = orjson.loads(payload[:end])
    except orjson.JSONDecodeError as exc:
        raise CorruptRecordError(f"blocks index is not JSON: {exc}") from None
    entries = index.get("blocks") if isinstance(index, dict) and index.get("kind") == "events" else None
    if not isinstance(entries, list) or not entries:
        raise CorruptRecordError("blocks record without a list of blocks")
    blocks: list[EventBlock] = []
    pos = end + 1
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 4 and type(entry[0]) is int and type(entry[1]) is int
                and type(entry[2]) is bool):
            raise CorruptRecordError(f"block entry {len(blocks)} is not [size, count, opens_session, session_id]")
        size, count, opens, session_id = entry
        if size < 0 or pos + size > len(payload):
            raise CorruptRecordError(f"block {len(blocks)} runs past the end of the payload")
        try:
            blocks.append(EventBlock.stored(session_id, payload[pos : pos + size], count, opens))
        except ValueError:
            raise CorruptRecordError(f"block {len(blocks)} is not an encoded event block") from None
        pos += size
    if pos != len(payload):
        raise CorruptRecordError(f"{len(payload) - pos} bytes after the last block")
    return EncodedEvents.of_blocks(blocks)


__all__ = [
    "BLOCKS_VERSION",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "CorruptRecordError",
    "RecordEncodeError",
    "SpoolRecord",
]
