"""HTTP plumbing every input of the bridge server shares: what an input is given (`ApiContext`), and reading a
request body within a size limit. (What HTTP status a `SendResult` becomes is `core/status.py`'s.)

The body limit is applied to the decompressed bytes while they stream in, and every encoding (gzip, deflate, zstd,
as the Collector's exporters send them) is decoded with `max_length`, so neither a huge body nor a compression bomb
costs more than the limit (plus one chunk) in memory.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from otel_honeyhive.core.counters import Counters
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.jsonable import loads
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.protocols import Sink
from otel_honeyhive.core.results import Outcome, SendResult, Update
from otel_honeyhive.core.sizes import shown_size
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.core.zstd import BoundedZstd, ZstdDataError
from otel_honeyhive.inputs.event_validation import EventDefaults

logger = logging.getLogger("otel_honeyhive.server")



@dataclass
class ApiContext:
    """What the server hands every input: where data goes, and the request-level policy."""

    sink: Sink
    max_body_bytes: int
    """Largest request body accepted, after decompression."""
    defaults: EventDefaults = field(default_factory=EventDefaults)
    remote: bool = False
    """True when the output is a remote service (its refusals are answered 502, not blamed on the client)."""
    stop: threading.Event = field(default_factory=threading.Event)
    """Set at shutdown: interrupts an output's backoff so a request never holds shutdown up."""
    counters: Counters = field(default_factory=Counters)
    """Where inputs count what only they see (spans rejected inside an accepted request)."""

    async def send(self, events: list[Event]) -> SendResult:
        """Hand events on from a worker thread (outputs block: SQLite, fsync, HTTP with retries)."""
        return await run_in_threadpool(self._guarded, self.sink.accept_events, events)

    async def update(self, update: Update) -> SendResult:
        return await run_in_threadpool(self._guarded, self.sink.accept_update, update)

    async def spans(self, spans: Sequence[SpanView]) -> SendResult:
        return await run_in_threadpool(self._guarded, self.sink.accept_spans, spans)

    async def records(self, records: Sequence[LogRecordView]) -> SendResult:
        return await run_in_threadpool(self._guarded, self.sink.accept_records, records)

    def _guarded(self, call: Callable[[Any], SendResult], arg: object) -> SendResult:
        try:
            return call(arg)
        except Exception as exc:  # an output must not raise; if one does, the client may retry
            logger.exception("output %s raised", self.sink.output_name)
            return SendResult(Outcome.RETRY_LATER, f"output {self.sink.output_name} failed: {type(exc).__name__}")


class BodyError(Exception):
    """A request body the server refuses before looking at its content (size, encoding, type, syntax)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_json_content_type(request: Request) -> None:
    """415 unless the body is declared JSON (`application/json`, `…+json`, with parameters) or undeclared."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise BodyError(415, f"unsupported Content-Type {media_type!r}; send application/json")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed, refusing (413) as soon as it passes `limit` bytes.

    Never holds more than `limit + 1` decompressed bytes (plus one network chunk of compressed input)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower() or "identity"
    if encoding != "identity" and encoding not in DECODERS:
        raise BodyError(
            400, f"unsupported Content-Encoding {encoding!r}; supported: {', '.join(ENCODINGS)}, identity"
        )
    declared = request.headers.get("content-length", "")
    if encoding == "identity" and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, _too_large(limit))
    inflater = None if encoding == "identity" else DECODERS[encoding](limit)
    # Compressed input larger than twice the limit cannot be a body within the limit worth inflating.
    wire_limit = limit if inflater is None else 2 * limit + 65536
    chunks: list[bytes] = []
    received = size = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > wire_limit:
                raise BodyError(413, _too_large(limit))
            piece = chunk if inflater is None else inflater.feed(chunk)
            size += len(piece)
            if size > limit:
                raise BodyError(413, _too_large(limit))
            chunks.append(piece)
    except ClientDisconnect:
        raise BodyError(400, "client disconnected before sending the whole body") from None
    if inflater is not None:
        inflater.finish()
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"request body exceeds the limit of {shown_size(limit)} (after decompression; --max-body-bytes)"


class _Decoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def finish(self) -> None: ...


class _Inflater:
    """Streaming gzip/deflate decoding that produces at most `limit + 1` bytes, whatever the input claims.

    Concatenated gzip members are one body, as gzip(1) reads them."""

    def __init__(self, wbits: int, limit: int) -> None:
        self._wbits = wbits
        self._limit = limit
        self._produced = 0
        self._inflater = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        try:
            while data:
                if self._inflater.eof:  # another gzip member follows
                    self._inflater = zlib.decompressobj(self._wbits)
                piece = self._inflater.decompress(data, self._limit + 1 - self._produced)
                self._produced += len(piece)
                out.append(piece)
                if self._produced > self._limit:
                    break  # the caller refuses the body; inflating further would only cost memory
                data = self._inflater.unconsumed_tail or self._inflater.unused_data
        except zlib.error as exc:
            raise BodyError(400, f"body is not valid compressed data: {exc}") from None
        return b"".join(out)

    def finish(self) -> None:
        if not self._inflater.eof:
            raise BodyError(400, "body is not valid compressed data: truncated stream")


class _ZstdDecoder:
    """Streaming zstd decoding (`core/zstd.py`) that produces at most `limit + 1` bytes. The window (the
    decoder's memory) may be as large as the limit, or 8 MiB when the limit is smaller (streaming encoders declare
    theirs whatever the body's size), at most 128 MiB: a frame declaring more is refused instead of allocated."""

    def __init__(self, limit: int) -> None:
        window_log = min(max((limit - 1).bit_length(), _ZSTD_WINDOW_LOG_MIN), _ZSTD_WINDOW_LOG_MAX)  # 2**n >= limit
        try:
            self._decoder = BoundedZstd(limit, window_limit=1 << window_log)
        except ZstdDataError as exc:
            raise BodyError(400, f"unsupported Content-Encoding 'zstd' here: {exc}") from None

    def feed(self, data: bytes) -> bytes:
        try:
            return self._decoder.feed(data)
        except ZstdDataError as exc:
            raise BodyError(400, _zstd_refusal(exc)) from None

    def finish(self) -> None:
        try:
            self._decoder.finish()
        except ZstdDataError:
            raise BodyError(400, "body is not valid compressed data: truncated stream") from None


def _zstd_refusal(exc: ZstdDataError) -> str:
    if exc.window is not None and exc.window_limit is not None:
        return (f"zstd frame needs a {shown_size(exc.window)} window; this server decodes up to "
                f"{shown_size(exc.window_limit)} (the body limit, --max-body-bytes, at least 8 MiB and at most "
                "128 MiB)")
    return f"body is not valid compressed data: {exc}"


_ZSTD_WINDOW_LOG_MIN = 23
_ZSTD_WINDOW_LOG_MAX = 27
"""zstd's own default limit for decoders (128 MiB), whatever `--max-body-bytes` allows."""

DECODERS: dict[str, Callable[[int], _Decoder]] = {
    "gzip": lambda limit: _Inflater(16 + zlib.MAX_WBITS, limit),
    "x-gzip": lambda limit: _Inflater(16 + zlib.MAX_WBITS, limit),
    "deflate": lambda limit: _Inflater(zlib.MAX_WBITS, limit),
    "zlib": lambda limit: _Inflater(zlib.MAX_WBITS, limit),
    "zstd": _ZstdDecoder,
}
"""Content-Encoding → a decoder of a body of at most the limit, in bytes. HTTP's `deflate` is the zlib format; the
Collector's exporters name it `deflate` or `zlib`."""
ENCODINGS = ("gzip", "deflate", "zlib", "zstd")
"""The encodings named in refusals (`x-gzip` is gzip's old alias)."""


def parse_json(data: bytes) -> Any:
    """The decoded JSON document; 400 naming where parsing failed."""
    try:
        return loads(data)  # integers beyond 64 bits kept exact, as decimal strings
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, f"invalid JSON: {exc}") from None


__all__ = [
    "ApiContext",
    "BodyError",
    "check_json_content_type",
    "parse_json",
    "read_body",
]
