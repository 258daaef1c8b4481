"""Streaming readers: events and OTLP requests out of a file, one at a time, with a resumable position.

Nothing here loads a whole file, except a single OTLP/JSON document (one request is one unit of meaning).
Every item comes with the line it starts on (for error messages that name `file:line`) and the position just
after it (an uncompressed byte offset plus the line count there), so `replay` can store where to continue.

Length-prefixed files (the Collector `file` exporter's `format: proto`, and its per-message compression: see
core/file_formats.py) count entries instead of lines: an entry is a 4-byte big-endian length and that many bytes,
its number stands where a line number would, and a length past `MAX_ENTRY_BYTES` is refused before anything is
allocated (a corrupt file, or one that is not length-prefixed, would otherwise ask for gigabytes).

gzip and zstd are told by their magic bytes and decompressed as the file is read; zstd needs the module the
server extra installs, imported only when a zstd file is met, so the package imports without it.

A JSON array of events is split without a JSON parser: a regular expression finds the next string or bracket,
strings are skipped whole (escapes included) and brace depth is tracked, so each element is cut out as bytes
and parsed on its own. That keeps a 100,000-event `.json` file as cheap to read as the same events as NDJSON.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Generic, TypeVar, cast

import orjson

from otel_honeyhive.core.events import EVENT_TYPES, Event
from otel_honeyhive.core.file_formats import Format, detect_format
from otel_honeyhive.core.jsonable import loads
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.core.zstd import (
    DEFAULT_WINDOW_LIMIT,
    MISSING,
    ZstdDataError,
    declared_window,
    decode_all,
    zstd_module,
)
from otel_honeyhive.core.zstd import MAGIC as ZSTD_MAGIC
from otel_honeyhive.inputs.otlp.decode_json import decode_json
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError

T = TypeVar("T")

CHUNK_BYTES = 1 << 20
"""How much of a JSON array is read at a time."""

MAX_ENTRY_BYTES = 64 << 20
"""Largest entry of a length-prefixed file, after decompression: far above what a Collector batch holds, and what
reading one entry may cost in memory at most."""

_GZIP_MAGIC = b"\x1f\x8b"
_TEXT_ONLY = (Format.EVENTS_NDJSON, Format.EVENTS_JSON, Format.OTLP_JSON)
"""Formats that are JSON text only (`otlp-jsonl` is also the name a length-prefixed Collector file is read by)."""
_PROTOBUF_FIRST_BYTE = b"\x0a"
"""Field 1, length-delimited: how an OTLP export request's first field (`resource_spans`) begins."""
_GZIP_ERRORS: tuple[type[Exception], ...] = (EOFError, zlib.error, gzip.BadGzipFile)
"""What a cut or corrupt gzip stream raises while it is read (the magic bytes alone make a file "compressed");
a zstd stream raises EOFError or the module's ZstdError."""
_ZSTD_MISSING = f"zstd-compressed, and {MISSING}"
_BOM = b"\xef\xbb\xbf"
_WS = b" \t\r\n"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*("|\\?\Z)|[\[\]{}]', re.DOTALL)
"""A whole string (group 1 is the closing quote; empty when the buffer ends inside the string), or a bracket."""

_OPEN_OBJECT, _OPEN_ARRAY, _CLOSE_OBJECT, _CLOSE_ARRAY, _QUOTE = b"{[}]\""


class InputError(ValueError):
    """Bad input, named as `file:line: what is wrong` (the form editors and terminals make clickable), or, in a
    length-prefixed file, which has no lines, `file: entry N: what is wrong`."""

    def __init__(self, path: str, line: int, message: str, unit: str = "line") -> None:
        super().__init__(f"{path}:{line}: {message}" if unit == "line" else f"{path}: {unit} {line}: {message}")
        self.path = path
        self.line = line
        self.message = message
        self.unit = unit


@dataclass(frozen=True, slots=True)
class Position:
    """Where reading continues: an uncompressed byte offset, the line number there, the items before it, and
    (JSON arrays only) the nesting depth of the array holding the events (1 bare, 2 in `{"events": [...]}`)."""

    offset: int = 0
    line: int = 1
    items: int = 0
    depth: int = 0


START = Position()
"""The beginning of a file."""


@dataclass(frozen=True, slots=True)
class Record(Generic[T]):
    value: T
    line: int
    """The line the item starts on."""
    end: Position
    """The position just after the item."""


@dataclass(frozen=True, slots=True)
class OtlpRequest:
    """One decoded `ExportTraceServiceRequest`, with its text (kept for OTLP → OTLP conversion): JSON, or, from
    a length-prefixed file, possibly protobuf."""

    spans: list[SpanView]
    body: bytes
    protobuf: bool = False
    """`body` is the protobuf encoding, not OTLP/JSON."""


@dataclass(frozen=True, slots=True)
class OtlpLogs:
    """One decoded `ExportLogsServiceRequest` of a logs file (`--logs`): its records, and the earliest of their
    times (0 when a record has none), which says when in the traffic the request belongs."""

    records: list[LogRecordView]
    earliest_ns: int


_LOGS_HINT = "this file holds OTLP logs (resourceLogs), not traces: give it with --logs FILE"
_TRACES_HINT = "this file holds OTLP traces (resourceSpans), not logs: give it as the traces file, not with --logs"


def check_event(value: Any) -> str | None:
    """Why `value` is not a HoneyHive event, or None. An event must carry its `event_type` and a UUID
    `event_id`: the id is what makes a replay idempotent and what the reverse mapping derives span ids from."""
    if type(value) is not dict:
        return "not a JSON object"
    event_type = value.get("event_type")
    if event_type not in EVENT_TYPES:
        got = "none" if event_type is None else repr(event_type)[:60]
        return f"not a HoneyHive event: event_type must be one of {', '.join(EVENT_TYPES)}, got {got}"
    event_id = value.get("event_id")
    if type(event_id) is not str or not _UUID.fullmatch(event_id):
        got = "none" if event_id is None else repr(event_id)[:60]
        return f"not a HoneyHive event: event_id must be a UUID, got {got}"
    return None


class InputFile:
    """An input file opened for streaming: plain, gzip or zstd (told by its first bytes, so `.gz` / `.zst` names
    and compressed files named otherwise all work). `bytes_read` is the position in the file as stored
    (compressed bytes for gzip and zstd), which is what a progress bar compares with `size`.

    An OTLP file may be length-prefixed (`length_prefixed`): always for `otlp-proto`, and for `otlp-jsonl` when
    its first bytes say so (JSON text never starts with a NUL byte, nor holds a zstd frame after four bytes, as
    the Collector's JSON with per-message compression does). Its `unit` is then "entry", not "line".

    Raises InputError (at line 1) for a zstd file when the zstd module is missing."""

    def __init__(self, path: Path, fmt: Format | None = None, *, display: str | None = None) -> None:
        self.path = path
        self.display = display if display is not None else str(path)
        self.format = fmt if fmt is not None else detect_format(path)
        self._raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.unit = "line"
        """What the line numbers of records, positions and errors count: "entry" when `length_prefixed`."""
        self._errors = _GZIP_ERRORS
        self._zstd: ModuleType | None = None
        try:
            stat = os.fstat(self._raw.fileno())
            self.size = stat.st_size
            self.mtime_ns = stat.st_mtime_ns
            head = self._raw.read(6)
            self._raw.seek(0)
            self.compression = ("gzip" if head[:2] == _GZIP_MAGIC else "zstd" if head[:4] == ZSTD_MAGIC
                                else None)
            self._window = declared_window(head)
            """The window the first zstd frame asks for, to say why a file asking for too large a one is refused."""
            if self.compression == "zstd":
                self._errors = (EOFError, self._zstd_or_error(1).ZstdError)
            self._stream = self._opened()
            self.length_prefixed = self.format is Format.OTLP_PROTO or (
                self.format is Format.OTLP_JSONL and self._looks_length_prefixed())
            if self.format in _TEXT_ONLY and self._looks_length_prefixed():
                raise self._error(1, f"not {self.format.value} text: it looks like a length-prefixed OTLP protobuf "
                                     "file (the Collector file exporter's format: proto): give --from otlp-proto")
        except BaseException:
            self._raw.close()
            raise
        if self.length_prefixed:
            self.unit = "entry"

    @property
    def compressed(self) -> bool:
        return self.compression is not None

    def _zstd_or_error(self, line: int) -> ModuleType:
        if self._zstd is None:
            self._zstd = zstd_module()
            if self._zstd is None:
                raise self._error(line, _ZSTD_MISSING)
        return self._zstd

    def _opened(self) -> IO[bytes]:
        """The file's content, decompressed as it is read."""
        self._raw.seek(0)
        if self.compression == "gzip":
            return cast(IO[bytes], gzip.GzipFile(fileobj=self._raw, mode="rb"))
        if self.compression == "zstd":
            return cast(IO[bytes], self._zstd_or_error(1).ZstdFile(self._raw, mode="rb"))
        return self._raw

    def _looks_length_prefixed(self) -> bool:
        """An `otlp-jsonl` file as the Collector writes `format: json` with per-message compression (or
        `format: proto` under a JSON name): a zstd frame after the first four bytes, or a NUL first byte. A
        stream that cannot be read here is read again, and reported, by the reader."""
        try:
            head = self._stream.read(8)
            self._stream.seek(0)
        except self._errors:
            self._stream = self._opened()  # a decompressor that failed once may not fail again
            return False
        return head[4:8] == ZSTD_MAGIC or head[:1] == b"\x00"

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._stream is not self._raw:
            self._stream.close()
        self._raw.close()

    @property
    def bytes_read(self) -> int:
        return self._raw.tell()

    def _seek(self, start: Position) -> None:
        self._stream.seek(start.offset)  # gzip: decompresses up to there; plain: a real seek

    def _error(self, line: int, message: str) -> InputError:
        return InputError(self.display, line, message, self.unit)

    def _decompressed(self, items: Iterator[tuple[bytes, int, Position]],
                      start: Position) -> Iterator[tuple[bytes, int, Position]]:
        """`items` as they are read; a gzip stream cut short or corrupt is an InputError at the line reading had
        reached, never a traceback."""
        reached = start.line
        try:
            for item in items:
                yield item
                reached = item[2].line
        except self._errors as exc:
            raise self._error(reached, self._unreadable(exc)) from None

    def _unreadable(self, exc: Exception) -> str:
        """Why a compressed stream could not be read: cut short or corrupt, or (a whole file in one zstd frame,
        as `zstd --long=28` writes) a complete frame asking for a window larger than a decoder allocates."""
        window = self._window
        if not isinstance(exc, EOFError) and window is not None and window > DEFAULT_WINDOW_LIMIT:
            return (f"not a readable zstd file: its frame needs a {window >> 20} MiB window, more than the "
                    f"{DEFAULT_WINDOW_LIMIT >> 20} MiB read here (zstd -d --long={(window - 1).bit_length()} "
                    "decompresses it)")
        return f"not a complete {self.compression} file ({exc})"

    def _json_error(self, data: bytes, line: int, exc: orjson.JSONDecodeError) -> InputError:
        """Where in the file the JSON breaks (orjson counts lines and columns from the start of the item)."""
        data = data.rstrip(b"\r\n")  # an NDJSON line's own newline is not where it breaks
        pos = min(max(exc.pos, 0), len(data))
        before = data[:pos]
        column = pos - (before.rfind(b"\n") + 1) + 1
        return self._error(line + before.count(b"\n"), f"not JSON ({exc.msg}, column {column})")

    # -- events --------------------------------------------------------------------------------------------------

    def events(self, start: Position = START) -> Iterator[Record[Event]]:
        """The events of an events file (NDJSON or a JSON array), each checked with `check_event`."""
        if self.format is Format.EVENTS_NDJSON:
            items = self._lines(start)
        elif self.format is Format.EVENTS_JSON:
            items = self._array_items(start)
        else:
            raise ValueError(f"{self.display}: {self.format.value} holds OTLP requests, not events")
        for data, line, end in self._decompressed(items, start):
            try:
                value = loads(data)  # integers beyond 64 bits kept exact, as decimal strings
            except orjson.JSONDecodeError as exc:
                raise self._json_error(data, line, exc) from None
            problem = check_event(value)
            if problem is not None:
                raise self._error(line, problem)
            yield Record(value, line, end)

    # -- OTLP ----------------------------------------------------------------------------------------------------

    def requests(self, start: Position = START) -> Iterator[Record[OtlpRequest]]:
        """The OTLP requests of an OTLP file, decoded into spans."""
        for data, unit, end in self._otlp_items(start, "OTLP requests"):
            request = (self._entry_request(data, unit) if self.length_prefixed
                       else OtlpRequest(self._decode(data, unit), data))
            yield Record(request, unit, end)

    def _otlp_items(self, start: Position, holds: str) -> Iterator[tuple[bytes, int, Position]]:
        """The undecoded requests of an OTLP file (traces or logs): its entries when length-prefixed, else its
        lines, or the whole document; each with its line or entry number and the position after it."""
        if self.length_prefixed:
            items = self._entries(start)
        elif self.format is Format.OTLP_JSONL:
            items = self._lines(start)
        elif self.format is Format.OTLP_JSON:
            items = self._whole(start)
        else:
            raise ValueError(f"{self.display}: {self.format.value} holds events, not {holds}")
        return self._decompressed(items, start)

    def _entry_request(self, data: bytes, entry: int) -> OtlpRequest:
        """An entry of a length-prefixed file: a protobuf or JSON request, either possibly in a zstd frame."""
        if data[:4] == ZSTD_MAGIC:
            data = self._unzstd(data, entry)
        if data.lstrip(_WS)[:1] == b"{":  # a protobuf request starts with its field 1 tag, 0x0a
            return OtlpRequest(self._decode(data, entry), data)
        from otel_honeyhive.inputs.otlp.decode_proto import decode_protobuf  # protobuf: the server extra

        try:
            result = decode_protobuf(data)
        except OtlpDecodeError as exc:
            if _holds_logs(data):
                raise self._error(entry, _LOGS_HINT) from None
            raise self._error(entry, f"not an OTLP protobuf ExportTraceServiceRequest: {exc}") from None
        if result.errors:
            raise self._error(entry, f"unusable span: {result.errors[0]}")
        return OtlpRequest(result.spans, data, protobuf=True)

    def _unzstd(self, data: bytes, entry: int) -> bytes:
        try:
            return unzstd(data, MAX_ENTRY_BYTES, "an entry")
        except ValueError as exc:
            raise self._error(entry, str(exc)) from None

    def _decode(self, data: bytes, line: int) -> list[SpanView]:
        try:
            result = decode_json(data)
        except OtlpDecodeError as exc:
            raise self._error(line, f"not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None
        if result.errors:
            raise self._error(line, f"unusable span: {result.errors[0]}")
        if not result.spans and b"esourceSpans" not in data and b"resource_spans" not in data:
            if b"esourceLogs" in data or b"resource_logs" in data:
                raise self._error(line, _LOGS_HINT)
            raise self._error(line, "not an OTLP/JSON ExportTraceServiceRequest: no resourceSpans")
        return result.spans

    # -- OTLP logs -----------------------------------------------------------------------------------------------

    def logs(self, start: Position = START) -> Iterator[Record[OtlpLogs]]:
        """The OTLP logs requests of a logs file (`--logs`: the Collector `file` exporter's logs, any framing the
        traces are read in), decoded by the receiver's own decoders (inputs/otlp/logs.py)."""
        for data, unit, end in self._otlp_items(start, "OTLP logs"):
            yield Record(self._entry_logs(data, unit) if self.length_prefixed else self._decode_logs(data, unit),
                         unit, end)

    def _entry_logs(self, data: bytes, entry: int) -> OtlpLogs:
        if data[:4] == ZSTD_MAGIC:
            data = self._unzstd(data, entry)
        if data.lstrip(_WS)[:1] == b"{":
            return self._decode_logs(data, entry)
        from otel_honeyhive.inputs.otlp.decode_proto import decode_protobuf
        from otel_honeyhive.inputs.otlp.logs import decode_logs_protobuf  # protobuf: the server extra

        try:
            result = decode_logs_protobuf(data)
        except OtlpDecodeError as exc:
            if _holds_spans(data, decode_protobuf):
                raise self._error(entry, _TRACES_HINT) from None
            raise self._error(entry, f"not an OTLP protobuf ExportLogsServiceRequest: {exc}") from None
        if not result.records and not result.errors and _holds_spans(data, decode_protobuf):
            raise self._error(entry, _TRACES_HINT)
        return self._logs_of(result.records, result.errors, entry)

    def _decode_logs(self, data: bytes, line: int) -> OtlpLogs:
        from otel_honeyhive.inputs.otlp.logs import decode_logs_json  # opentelemetry-proto: the server extra

        try:
            result = decode_logs_json(data)
        except OtlpDecodeError as exc:
            raise self._error(line, f"not an OTLP/JSON ExportLogsServiceRequest: {exc}") from None
        if not result.records and b"esourceLogs" not in data and b"resource_logs" not in data:
            if b"esourceSpans" in data or b"resource_spans" in data:
                raise self._error(line, _TRACES_HINT)
            raise self._error(line, "not an OTLP/JSON ExportLogsServiceRequest: no resourceLogs")
        return self._logs_of(result.records, result.errors, line)

    def _logs_of(self, records: list[LogRecordView], errors: list[str], line: int) -> OtlpLogs:
        """The request's records; one the receiver would reject (ids of the wrong size) stops the file, as an
        unusable span does."""
        if errors:
            raise self._error(line, f"unusable log record: {errors[0]}")
        return OtlpLogs(records, min((r.time_ns for r in records), default=0))

    # -- framing -------------------------------------------------------------------------------------------------

    def _entries(self, start: Position) -> Iterator[tuple[bytes, int, Position]]:
        """The entries of a length-prefixed file, each with its number and the position after it."""
        self._seek(start)
        read = self._stream.read
        offset, entry, items = start.offset, start.line, start.items
        while True:
            head = read(4)
            if not head:
                return
            if len(head) < 4:
                raise self._error(entry, f"file cut short: {len(head)} of the 4 bytes of the entry's length")
            size = int.from_bytes(head, "big")
            if size > MAX_ENTRY_BYTES and not start.offset and entry == 1 and head[:1] == _PROTOBUF_FIRST_BYTE:
                yield self._single_request(head, read)  # one bare request, as `explain` and other tools write it
                return
            if size > MAX_ENTRY_BYTES:
                hint = ("; this looks like JSON text: give --from otlp-jsonl or otlp-json" if entry == 1
                        and head.lstrip(_WS + _BOM)[:1] in (b"{", b"[") else "")
                at = f"byte {offset}" + (" decompressed" if self.compressed else "")
                raise self._error(entry, f"length {size} is more than an entry may hold ({_mib(MAX_ENTRY_BYTES)}): "
                                  f"not a length-prefixed OTLP file, or a corrupt one ({at}){hint}")
            data = read(size)
            if len(data) < size:
                raise self._error(entry, f"file cut short: {len(data)} of the entry's {size} bytes")
            offset += 4 + size
            items += 1
            yield data, entry, Position(offset, entry + 1, items)
            entry += 1

    def _single_request(self, head: bytes, read: Callable[[int], bytes]) -> tuple[bytes, int, Position]:
        """A file holding one bare protobuf request (no length before it): its first byte is the tag of the
        request's field 1 (`resource_spans`, `resource_logs`), which as a length's first byte would make an entry
        of at least 160 MiB. Read whole, as one entry, up to the entries' limit."""
        data = head + read(MAX_ENTRY_BYTES + 1 - len(head))
        if len(data) > MAX_ENTRY_BYTES:
            raise self._error(1, f"a single protobuf request of more than {_mib(MAX_ENTRY_BYTES)}, more than an "
                                 "entry may hold")
        return data, 1, Position(len(data), 2, 1)

    def _lines(self, start: Position) -> Iterator[tuple[bytes, int, Position]]:
        """Non-blank lines, each with its line number and the position after it."""
        self._seek(start)
        offset, line, items = start.offset, start.line, start.items
        for data in self._stream:
            if not offset and data.startswith(_BOM):  # a UTF-8 file as Windows editors save it
                offset, data = len(_BOM), data[len(_BOM):]
            offset += len(data)
            if data.strip(_WS):
                items += 1
                yield data, line, Position(offset, line + 1, items)
            line += 1

    def _whole(self, start: Position) -> Iterator[tuple[bytes, int, Position]]:
        """The whole (decompressed) file as one item: a single OTLP/JSON document is one request."""
        if start.offset:
            return  # already done: a single document is all or nothing
        data = self._stream.read()
        if data.startswith(_BOM):
            data = data[len(_BOM):]
        if not data.strip(_WS):
            raise self._error(1, "empty file: expected an OTLP/JSON ExportTraceServiceRequest")
        yield data, 1, Position(len(data), 1 + data.count(b"\n"), 1)

    def _array_items(self, start: Position) -> Iterator[tuple[bytes, int, Position]]:
        """Each element of the events array, as bytes, read `CHUNK_BYTES` at a time.

        The array is the whole document or the `events` member of a top-level object (a batch request).
        After the last element only whitespace may follow a bare array; the rest of a batch request
        (`is_single_session`, `session_properties`) is not read."""
        self._seek(start)
        read = self._stream.read
        buf = b""
        base = start.offset  # file offset of buf[0]
        line = start.line  # line number at buf[line_pos]
        line_pos = 0
        items = start.items
        items_depth = start.depth  # 0 until the array holding the events is found
        depth = start.depth
        after_item = start.depth > 0  # resuming: the last thing read was an element
        pos = 0  # where scanning continues
        gap = 0  # where the text since the last element (or the array's '[') starts
        obj_start = -1  # where the element being read starts, or -1 between elements
        key_start = key_end = -1  # the last string seen directly in a wrapper object (a candidate key)
        eof = False

        def line_of(p: int) -> int:
            nonlocal line, line_pos
            if p >= line_pos:
                line += buf.count(b"\n", line_pos, p)
            else:
                line -= buf.count(b"\n", p, line_pos)
            line_pos = p
            return line

        def gap_problem(end: int) -> str | None:
            """Only `,` and whitespace may sit between elements."""
            text = buf[gap:end].strip(_WS)
            if after_item:
                if not text:
                    return None if buf[end] == _CLOSE_ARRAY else "expected ',' between events"
                if text[:1] != b",":
                    return "not a JSON object"
                text = text[1:].strip(_WS)
                if not text and buf[end] == _CLOSE_ARRAY:
                    return "trailing ',' before ']'"
            return "not a JSON object" if text else None

        while True:
            for m in _TOKEN.finditer(buf, pos):
                at = m.start()
                c = buf[at]
                if c == _QUOTE:
                    if m.group(1) != b'"':
                        pos = at  # the buffer ends inside this string: read on, then scan it again
                        break
                    if items_depth and depth == items_depth:
                        raise self._error(line_of(at), "not a JSON object")
                    if not items_depth and depth == 1:
                        key_start, key_end = at, m.end()
                    continue
                if c in (_OPEN_OBJECT, _OPEN_ARRAY):
                    if items_depth and depth == items_depth:
                        problem = gap_problem(at)
                        if problem is None and c == _OPEN_ARRAY:
                            problem = "not a JSON object"
                        if problem is not None:
                            raise self._error(line_of(at), problem)
                        obj_start = at
                    elif not items_depth:
                        if depth == 0:
                            if buf[:at].strip(_WS) not in (b"", _BOM):
                                raise self._error(line_of(at), "not a JSON array of events")
                            if c == _OPEN_ARRAY:
                                items_depth, gap = 1, m.end()
                        elif (depth == 1 and c == _OPEN_ARRAY and key_start >= 0
                              and buf[key_start:key_end] == b'"events"' and buf[key_end:at].strip(_WS) == b":"):
                            items_depth, gap = 2, m.end()
                    depth += 1
                    continue
                depth -= 1  # a closing bracket
                if obj_start >= 0 and depth == items_depth:
                    data = buf[obj_start:m.end()]
                    first = line_of(obj_start)
                    items += 1
                    yield data, first, Position(base + m.end(), line_of(m.end()), items, items_depth)
                    obj_start, gap, after_item = -1, m.end(), True
                elif items_depth and depth == items_depth - 1:
                    problem = gap_problem(at) if c == _CLOSE_ARRAY else "not a JSON object"
                    if problem is not None:
                        raise self._error(line_of(at), problem)
                    if items_depth == 1:
                        self._expect_end(buf[m.end():], read, line_of(m.end()))
                    return
                elif depth < 0 or (not items_depth and depth == 0):
                    raise self._error(line_of(at), _not_events(buf[key_start:key_end] if key_start >= 0 else b""))
            else:
                pos = len(buf)
            if not items_depth and depth == 0 and buf[:pos].strip(_WS) not in (b"", _BOM):
                raise self._error(line_of(0), "not a JSON array of events")
            if eof:
                if not items_depth:
                    raise self._error(line_of(len(buf)),
                                      _not_events(buf[key_start:key_end] if key_start >= 0 else b""))
                where = f"the event starting at line {line_of(obj_start)}" if obj_start >= 0 else "the array"
                raise self._error(line_of(len(buf)), f"unexpected end of file inside {where}")
            # Keep only what is still needed: the element being read, the text since the last element, or a
            # candidate key of a wrapper object.
            keep = obj_start if obj_start >= 0 else min(pos, gap) if items_depth else pos
            if not items_depth and key_start >= 0:
                keep = min(keep, key_start)
            if keep > 0:
                line_of(max(keep, line_pos))
                buf = buf[keep:]
                base += keep
                pos -= keep
                gap = max(gap - keep, 0)
                line_pos -= keep
                if obj_start >= 0:
                    obj_start -= keep
                if key_start >= 0:
                    key_start, key_end = key_start - keep, key_end - keep
            # At least as much as is kept: an element (or a string) far longer than a chunk then costs a few
            # doublings of the buffer instead of a rescan and a copy per chunk.
            chunk = read(max(CHUNK_BYTES, len(buf)))
            if not chunk:
                eof = True
                # A string still open at the end of the file is scanned again and must be an error.
                if pos < len(buf):
                    raise self._error(line_of(pos), "unexpected end of file inside a string")
                continue
            buf += chunk

    def _expect_end(self, rest: bytes, read: Callable[[int], bytes], line: int) -> None:
        """After a bare array only whitespace may follow."""
        while True:
            text = rest.strip(_WS)
            if text:
                raise self._error(line + rest[: rest.find(text[:1])].count(b"\n"),
                                  "unexpected data after the JSON array")
            line += rest.count(b"\n")
            rest = read(CHUNK_BYTES)
            if not rest:
                return


def _holds_logs(data: bytes) -> bool:
    """Whether a protobuf entry that is no traces request is a logs request (for the hint to use `--logs`)."""
    try:
        from otel_honeyhive.inputs.otlp.logs import decode_logs_protobuf

        result = decode_logs_protobuf(data)
    except (ImportError, OtlpDecodeError):
        return False
    return bool(result.records or result.errors)


def _holds_spans(data: bytes, decode: Callable[[bytes], Any]) -> bool:
    """Whether a protobuf entry that holds no log record is a traces request (for the hint to give it as the
    traces file)."""
    try:
        return bool(decode(data).spans)
    except OtlpDecodeError:
        return False


_OTLP_KEYS = (b'"resourceSpans"', b'"resource_spans"')


def _not_events(last_key: bytes) -> str:
    """Why an events JSON file is refused; a hint when it holds OTLP/JSON (`last_key`, the last key read in the
    top-level object), as the Collector's file exporter writes under any name, `.json` included."""
    if last_key in _OTLP_KEYS:
        return ("not a JSON array of events: this looks like OTLP/JSON (resourceSpans): give --from otlp-jsonl "
                "(a request per line, as the Collector's file exporter writes) or otlp-json (one request)")
    return 'not a JSON array of events (nor an object with an "events" array)'


def unzstd(data: bytes, limit: int, what: str) -> bytes:
    """zstd frames (one, or several concatenated) decoded to at most `limit` bytes whatever they declare;
    ValueError saying why not (no zstd module, a corrupt or cut frame, more than `limit` for `what`)."""
    try:
        return decode_all(data, limit, what)
    except ZstdDataError as exc:
        raise ValueError(_ZSTD_MISSING if str(exc) == MISSING else str(exc)) from None


def _mib(size: int) -> str:
    return f"{size >> 20} MiB"


__all__ = ["CHUNK_BYTES", "MAX_ENTRY_BYTES", "START", "InputError", "InputFile", "OtlpLogs", "OtlpRequest",
           "Position", "Record", "check_event", "unzstd"]
