"""Streaming readers: events and OTLP requests out of a file, one at a time, with a resumable position.

Nothing here loads a whole file, except a single OTLP/JSON document (one request is one unit of meaning).
Every item comes with the line it starts on (for error messages that name `file:line`) and the position just
after it (an uncompressed byte offset plus the line count there), so `replay` can store where to continue.

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
from typing import IO, Any, Generic, TypeVar, cast

import orjson

from otel_honeyhive.core.events import EVENT_TYPES, Event
from otel_honeyhive.core.file_formats import Format, detect_format
from otel_honeyhive.core.jsonable import loads
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.inputs.otlp.decode_json import decode_json
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError

T = TypeVar("T")

CHUNK_BYTES = 1 << 20
"""How much of a JSON array is read at a time."""

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
"""What a cut or corrupt gzip stream raises while it is read (the magic bytes alone make a file "compressed")."""
_BOM = b"\xef\xbb\xbf"
_WS = b" \t\r\n"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*("|\\?\Z)|[\[\]{}]', re.DOTALL)
"""A whole string (group 1 is the closing quote; empty when the buffer ends inside the string), or a bracket."""

_OPEN_OBJECT, _OPEN_ARRAY, _CLOSE_OBJECT, _CLOSE_ARRAY, _QUOTE = b"{[}]\""


class InputError(ValueError):
    """Bad input, named as `file:line: what is wrong` (the form editors and terminals make clickable)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


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
    """One decoded `ExportTraceServiceRequest`, with its JSON text (kept for OTLP → OTLP conversion)."""

    spans: list[SpanView]
    body: bytes


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
    """An input file opened for streaming: plain or gzip (told by its first bytes, so `.gz` names and
    compressed files named otherwise both work). `bytes_read` is the position in the file as stored
    (compressed bytes for gzip), which is what a progress bar compares with `size`."""

    def __init__(self, path: Path, fmt: Format | None = None, *, display: str | None = None) -> None:
        self.path = path
        self.display = display if display is not None else str(path)
        self.format = fmt if fmt is not None else detect_format(path)
        self._raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            stat = os.fstat(self._raw.fileno())
            self.size = stat.st_size
            self.mtime_ns = stat.st_mtime_ns
            self.compressed = self._raw.read(2) == _GZIP_MAGIC
            self._raw.seek(0)
        except BaseException:
            self._raw.close()
            raise
        self._stream: IO[bytes] = (
            cast(IO[bytes], gzip.GzipFile(fileobj=self._raw, mode="rb")) if self.compressed else self._raw
        )

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
        return InputError(self.display, line, message)

    def _decompressed(self, items: Iterator[tuple[bytes, int, Position]],
                      start: Position) -> Iterator[tuple[bytes, int, Position]]:
        """`items` as they are read; a gzip stream cut short or corrupt is an InputError at the line reading had
        reached, never a traceback."""
        reached = start.line
        try:
            for item in items:
                yield item
                reached = item[2].line
        except _GZIP_ERRORS as exc:
            raise self._error(reached, f"not a complete gzip file ({exc})") from None

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
        """The OTLP/JSON requests of an OTLP file, decoded into spans."""
        if self.format is Format.OTLP_JSONL:
            items = self._lines(start)
        elif self.format is Format.OTLP_JSON:
            items = self._whole(start)
        else:
            raise ValueError(f"{self.display}: {self.format.value} holds events, not OTLP requests")
        for data, line, end in self._decompressed(items, start):
            yield Record(OtlpRequest(self._decode(data, line), data), line, end)

    def _decode(self, data: bytes, line: int) -> list[SpanView]:
        try:
            result = decode_json(data)
        except OtlpDecodeError as exc:
            raise self._error(line, f"not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None
        if result.errors:
            raise self._error(line, f"unusable span: {result.errors[0]}")
        if not result.spans and b"esourceSpans" not in data and b"resource_spans" not in data:
            raise self._error(line, "not an OTLP/JSON ExportTraceServiceRequest: no resourceSpans")
        return result.spans

    # -- framing -------------------------------------------------------------------------------------------------

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
                    raise self._error(line_of(at), 'not a JSON array of events (nor an object with an "events" '
                                      "array)")
            else:
                pos = len(buf)
            if not items_depth and depth == 0 and buf[:pos].strip(_WS) not in (b"", _BOM):
                raise self._error(line_of(0), "not a JSON array of events")
            if eof:
                if not items_depth:
                    raise self._error(line_of(len(buf)), 'not a JSON array of events (nor an object with an '
                                      '"events" array)')
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


__all__ = ["CHUNK_BYTES", "START", "InputError", "InputFile", "OtlpRequest", "Position", "Record", "check_event"]
