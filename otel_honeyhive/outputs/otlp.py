"""The OTLP output (the reverse direction): HoneyHive events become spans sent to any OTLP endpoint.

Why it does not wrap the SDK's `OTLPSpanExporter`: the stock exporters answer SUCCESS or FAILURE and retry on
their own terms, while the spool and shipper need the three outcomes every output gives (DELIVERED,
RETRY_LATER with the receiver's hint, REJECTED) under one shared policy (`shipping/retry.py`). So only the
encoding is borrowed (`encode_spans`); delivery is ours, over `requests` (OTLP/HTTP protobuf) or a grpcio
channel (OTLP/gRPC).

Updates: a span is immutable once exported, but a backend keyed by span id shows the newest copy. So the
output remembers recently sent events (a bounded LRU) and answers a `PUT /events` for one of them by
re-sending the merged event with the same ids; an event it does not remember cannot be patched (REJECTED,
HTTP status 404 so the server answers 404). Session events are remembered apart, in an LRU of their own: they
are the ones updated late (a conversation's later turn minutes on, feedback on a whole session), by when a busy
sidecar has sent far more child events than the general memory keeps.

Headers may carry credentials: they are never logged, shown in a repr or put in an error message.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import urllib.parse
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import orjson
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive._version import VERSION
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.jsonable import dumps
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.secrets import shown_url
from otel_honeyhive.core.sizes import cut_text, utf8_size
from otel_honeyhive.mapper.reverse import Lineage, events_to_spans
from otel_honeyhive.outputs.http_session import PinnedSession, pinned_session
from otel_honeyhive.shipping.retry import RetryPolicy, classify_status, parse_retry_after, run_with_retry

if TYPE_CHECKING:
    import grpc

logger = logging.getLogger("otel_honeyhive.outputs.otlp")

OtlpProtocol = Literal["http/protobuf", "grpc"]
PROTOCOLS: tuple[OtlpProtocol, ...] = ("http/protobuf", "grpc")
USER_AGENT = f"otel-honeyhive/{VERSION}"
TRACES_PATH = "/v1/traces"
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""Requests are split below this (serialized, before compression): 4 MiB is the default receive limit of
grpcio servers, and so of a stock Collector's OTLP/gRPC receiver."""
DEFAULT_REMEMBERED_EVENTS = 10_000
DEFAULT_REMEMBERED_BYTES = 64 * 1024 * 1024
"""The update LRU is bounded by count and by bytes (events with prompts weigh tens of KB each)."""
DEFAULT_REMEMBERED_SESSIONS = 10_000
DEFAULT_REMEMBERED_SESSION_BYTES = 32 * 1024 * 1024
"""Session events have their own LRU, bounded alike: as many as conversations a process remembers starting."""
RETRYABLE_GRPC_CODES = frozenset(
    {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "ABORTED", "CANCELLED"}
)
MIN_REQUEST_BYTES = 1024
"""The floor of a limit learned from 413s."""
TRUNCATED_KEY = "otel_honeyhive.truncated"
"""The attribute listing the keys of a span's values cut to fit a receiver's limit (sorted)."""
_CUT_MIN = 128
"""String values shorter than this are never cut (ids, names): what is left to cut is the data."""
_CONNECT_TIMEOUT = 5.0
_GRPC_MAX_RECONNECT_BACKOFF_MS = 5000
"""grpcio backs off reconnecting up to 120 s by default; a receiver that comes back is found within 5 s."""


def traces_url(endpoint: str) -> str:
    """`{endpoint}/v1/traces`, unless the endpoint already names that path (a query string stays last)."""
    parts = urllib.parse.urlsplit(endpoint)
    path = parts.path.rstrip("/")
    if not path.endswith(TRACES_PATH):
        path += TRACES_PATH
    return urllib.parse.urlunsplit(parts._replace(path=path))


def grpc_target(endpoint: str, insecure: bool) -> tuple[str, bool]:
    """The channel target (`host:port`) and whether to use TLS: `https://` means TLS, `http://` plaintext,
    a bare `host:port` follows `insecure` (as the SDK's OTLP/gRPC exporter does)."""
    if "://" not in endpoint:
        return endpoint.rstrip("/"), not insecure
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"OTLP/gRPC endpoint must be host:port or http(s)://host:port, got {shown_url(endpoint)!r}")
    return parts.netloc.rpartition("@")[2], parts.scheme == "https"


class OtlpOutput:
    """Sends events as OTLP spans (`events_to_spans` → `encode_spans`) with the shared retry policy.

    Thread-safe: one pooled `requests.Session` or one grpcio channel (both safe to share), and locks around
    the counters and the update memory."""

    name = "otlp"

    def __init__(
        self,
        endpoint: str,
        *,
        protocol: OtlpProtocol = "http/protobuf",
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        resource: Resource | None = None,
        insecure: bool = True,
        compression: Literal["gzip"] | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        remember_events: int = DEFAULT_REMEMBERED_EVENTS,
        remember_bytes: int = DEFAULT_REMEMBERED_BYTES,
        remember_sessions: int = DEFAULT_REMEMBERED_SESSIONS,
        remember_session_bytes: int = DEFAULT_REMEMBERED_SESSION_BYTES,
    ) -> None:
        """`timeout`: seconds one delivery may take, all attempts and backoffs included (the retry deadline),
        used when no `policy` is given. `insecure` applies to a gRPC endpoint given as bare `host:port`.
        `remember_events` / `remember_bytes` bound the memory `update` works from (0: no updates), and
        `remember_sessions` / `remember_session_bytes` that of session events."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"OTLP protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        if compression not in (None, "gzip"):
            raise ValueError(f"OTLP compression must be 'gzip' or None, got {compression!r}")
        self.endpoint = endpoint
        self.protocol: OtlpProtocol = protocol
        self.compression = compression
        self.policy = policy or RetryPolicy(deadline=timeout)
        self.resource = resource or Resource.create({"service.name": "honeyhive"})
        self.max_request_bytes = max_request_bytes
        """Requests are split below this: the `max_request_bytes` given, or less once the receiver refused a
        request as too large (413) and a smaller one passed (`_deliver`)."""
        self.configured_request_bytes = max_request_bytes
        self.too_large_refusals = 0
        """413 answers (gRPC: RESOURCE_EXHAUSTED, message larger than max) met, each split and sent again."""
        self._limit_logged = False
        self._headers = dict(headers or {})
        self._lock = threading.Lock()
        self._update_lock = threading.Lock()
        self._closed = False
        self._remembered = _Remembered(remember_events, remember_bytes)
        self._sessions_remembered = _Remembered(remember_sessions, remember_session_bytes)
        self._lineage = Lineage()
        """The ids of the spans made lately: an event sent after its parent joins the parent's trace."""
        self.requests_sent = 0
        self.spans_sent = 0
        self.spans_rejected_by_receiver = 0
        """Spans a receiver answered 200 for but reported in `partial_success.rejected_spans`."""
        self.last_rejection = ""
        """The receiver's `partial_success.error_message` with the latest rejected spans."""
        self.events_not_convertible = 0
        self._shown = shown_url(endpoint)
        self._session: PinnedSession | None = None
        self._channel: grpc.Channel | None = None
        self._attempt: Callable[[ExportTraceServiceRequest, int], Callable[[float], SendResult]]
        if protocol == "grpc":
            self._open_grpc(insecure)
            self._attempt = self._grpc_attempt
        else:
            self._url = traces_url(endpoint)
            self._shown = shown_url(self._url)
            self._session = pinned_session(
                self._url, {"User-Agent": USER_AGENT, "Content-Type": "application/x-protobuf", **self._headers}
            )
            self._attempt = self._http_attempt

    def _open_grpc(self, insecure: bool) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        target, tls = grpc_target(self.endpoint, insecure)
        self._shown = shown_url(("https://" if tls else "http://") + target)
        options = [("grpc.max_reconnect_backoff_ms", _GRPC_MAX_RECONNECT_BACKOFF_MS),
                   ("grpc.primary_user_agent", USER_AGENT)]
        channel = (
            grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
            if tls
            else grpc.insecure_channel(target, options=options)
        )
        self._channel = channel
        self._stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        # gRPC metadata keys must be lowercase.
        self._metadata = tuple((key.lower(), value) for key, value in self._headers.items())
        self._grpc_compression = grpc.Compression.Gzip if self.compression == "gzip" else None

    @property
    def request_bytes_limit(self) -> int:
        """What requests are built under now (the name the HoneyHive output uses too, for `/metrics`)."""
        return self.max_request_bytes

    def __repr__(self) -> str:
        return (
            f"OtlpOutput({self._shown!r}, protocol={self.protocol!r}, "
            f"headers={len(self._headers)}, compression={self.compression!r})"
        )

    # -- the Output protocol ---------------------------------------------------------------------------------

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        """Deliver `events` as spans. Events that cannot become spans are refused (REJECTED, naming them)
        after the others were delivered, so one bad event never costs the rest of a spooled batch."""
        if not events:
            return DELIVERED
        if self._closed:
            return SendResult(Outcome.RETRY_LATER, f"OTLP output {self._shown} is closed")
        spans, sent, refused = self._convert(events)
        if spans:
            result = self._deliver(spans, stop)
            if not result.ok:
                return result
            self._remember(sent)
        if refused:
            with self._lock:
                self.events_not_convertible += len(refused)
            return SendResult(
                Outcome.REJECTED,
                f"{len(refused)} of {len(events)} events cannot be sent as OTLP spans: " + "; ".join(refused[:5]),
            )
        return DELIVERED

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        """Re-send a remembered event with the update merged in (HoneyHive's PUT rules); same span ids.

        Serialised, so two updates of one event cannot overtake each other on the wire."""
        with self._update_lock:
            known = self._recall(update.event_id)
            if known is None:
                return SendResult(
                    Outcome.REJECTED,
                    f"event {update.event_id} is not known to this bridge; "
                    "OTLP spans cannot be updated after export",
                    status=404,
                )
            return self.send([update.apply_to(known)], stop=stop)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._session is not None:
            self._session.close()
        if self._channel is not None:
            self._channel.close()

    # -- conversion and delivery -----------------------------------------------------------------------------

    def _convert(self, events: Sequence[Event]) -> tuple[list[ReadableSpan], list[Event], list[str]]:
        """Spans for the events that have them, those events, and why the others have none."""
        try:
            return events_to_spans(events, resource=self.resource, lineage=self._lineage), list(events), []
        except Exception:  # never raise: find the culprits one by one
            pass
        good: list[Event] = []
        refused: list[str] = []
        for event in events:
            try:
                events_to_spans([event], resource=self.resource)
            except Exception as exc:
                event_id = event.get("event_id") if isinstance(event, Mapping) else None
                refused.append(f"event {event_id!r}: {exc}")
            else:
                good.append(event)
        try:
            # Again as one batch: a parent's known span id is looked up among the events of the batch.
            spans = events_to_spans(good, resource=self.resource, lineage=self._lineage) if good else []
            return spans, good, refused
        except Exception as exc:
            return [], [], [*refused, f"{len(good)} other events: {exc}"]

    def _requests(
        self, spans: Sequence[ReadableSpan], limit: int | None = None
    ) -> list[tuple[ExportTraceServiceRequest, Sequence[ReadableSpan]]]:
        """Encoded requests (with their spans), halved until each is under `limit` (default: the output's
        `max_request_bytes`); a single span is sent whatever its size: the receiver decides."""
        request = encode_spans(spans)
        if len(spans) <= 1 or request.ByteSize() <= (self.max_request_bytes if limit is None else limit):
            return [(request, spans)]
        half = len(spans) // 2
        return self._requests(spans[:half], limit) + self._requests(spans[half:], limit)

    def _deliver(self, spans: Sequence[ReadableSpan], stop: threading.Event | None) -> SendResult:
        """Every request, in order; one deadline bounds them all (as for the HoneyHive output).

        A request refused as too large (HTTP 413; gRPC RESOURCE_EXHAUSTED "larger than max") is split by spans
        and sent again at once, no backoff, no failure counted; one span still too large has its longest
        string values cut. The limit that passed is kept for later requests (`max_request_bytes`); as for the
        HoneyHive output (`HoneyHiveOutput._split`), a span that cannot get smaller is REJECTED (status 413)."""
        deadline = time.monotonic() + self.policy.deadline
        queue = deque(self._requests(spans))
        probe = self.max_request_bytes
        refused_size = passed = 0
        try:
            while queue:
                request, part = queue.popleft()
                limit = min(probe, self.max_request_bytes)
                size = request.ByteSize()
                if size > limit and limit < self.configured_request_bytes:  # over what the receiver takes
                    if len(part) > 1:
                        queue.extendleft(reversed(self._requests(part, limit)))
                        continue
                    cut = cut_request(request, limit)
                    if cut is not None and cut.ByteSize() < size:
                        request, size = cut, cut.ByteSize()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return SendResult(Outcome.RETRY_LATER,
                                      f"OTLP {self._shown}: deadline passed before every request")
                policy = RetryPolicy(
                    deadline=remaining,
                    initial_backoff=self.policy.initial_backoff,
                    max_backoff=self.policy.max_backoff,
                    jitter=self.policy.jitter,
                    max_attempts=self.policy.max_attempts,
                )
                count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
                result = run_with_retry(self._attempt(request, count), policy, stop)
                if result.status == 413:
                    with self._lock:
                        self.too_large_refusals += 1
                    refused_size = size
                    probe = max(MIN_REQUEST_BYTES, min(probe, self.max_request_bytes, size // 2))
                    if len(part) > 1:
                        queue.extendleft(reversed(self._requests(part, probe)))
                        continue
                    cut = cut_request(request, probe)
                    if cut is None or cut.ByteSize() >= size:
                        return SendResult(
                            Outcome.REJECTED,
                            f"the OTLP receiver {self._shown} refused a {size}-byte request of one span as too "
                            f"large (413) even with its longest strings cut; the span cannot be sent there: "
                            f"{result.detail}",
                            status=413,
                        )
                    queue.appendleft((cut, part))
                    continue
                if not result.ok:
                    return result
                with self._lock:
                    self.spans_sent += count
                if refused_size and probe // 2 < size <= probe:  # it tested the limit: a small piece says nothing
                    passed = max(passed, size)
            return DELIVERED
        finally:
            if passed:
                self._learn(max(MIN_REQUEST_BYTES, passed), refused_size)

    def _learn(self, limit: int, refused_size: int) -> None:
        """Build later requests under `limit`, the largest request that passed after requests down to
        `refused_size` bytes were refused (413): known to pass, within a factor of two of the receiver's limit.
        Said once at warning level, later lowerings at info."""
        with self._lock:
            if limit >= self.max_request_bytes:
                return
            self.max_request_bytes = limit
            first, self._limit_logged = not self._limit_logged, True
        if first:
            logger.warning("OTLP receiver %s refused a %d-byte request (413); requests are now built under %d "
                           "bytes", self._shown, refused_size, limit)
        else:
            logger.info("OTLP receiver %s refused a %d-byte request (413); requests are now built under %d bytes",
                        self._shown, refused_size, limit)

    def _partial_success(self, rejected: int, message: str, count: int) -> None:
        """The receiver took the request but not every span: retrying cannot change that, so warn and count."""
        if rejected > 0:
            with self._lock:
                self.spans_rejected_by_receiver += rejected
                self.last_rejection = message
            logger.warning("OTLP receiver %s rejected %d of %d spans: %s", self._shown, rejected, count,
                           message or "(no message)")
        elif message:
            logger.info("OTLP receiver %s: %s", self._shown, message)

    # -- OTLP/HTTP -------------------------------------------------------------------------------------------

    def _http_attempt(self, request: ExportTraceServiceRequest, count: int) -> Callable[[float], SendResult]:
        body = request.SerializeToString()
        data = gzip.compress(body, compresslevel=5) if self.compression == "gzip" else body
        headers = {"Content-Encoding": "gzip"} if self.compression == "gzip" else None
        return lambda timeout: self._post(data, headers, count, timeout)

    def _post(self, data: bytes, headers: dict[str, str] | None, count: int, timeout: float) -> SendResult:
        session = self._session
        assert session is not None
        where = f"POST {self._shown}"
        with self._lock:
            self.requests_sent += 1
        try:
            response = session.request("POST", self._url, data=data, headers=headers,
                                       timeout=(min(_CONNECT_TIMEOUT, timeout), timeout))
        except requests.Timeout:
            return SendResult(Outcome.RETRY_LATER, f"{where}: timed out after {timeout:.1f}s")
        except requests.ConnectionError as exc:
            return SendResult(Outcome.RETRY_LATER, f"{where}: connection failed ({type(exc).__name__})")
        except requests.RequestException as exc:
            return SendResult(Outcome.REJECTED, f"{where}: {type(exc).__name__}")
        status = response.status_code
        outcome = classify_status(status)
        if outcome is Outcome.DELIVERED:
            rejected, message = _http_partial_success(response)
            self._partial_success(rejected, message, count)
            return DELIVERED
        detail = f"{where}: HTTP {status} {_http_error_message(response)!r}"
        # Any refusal may say when to come back (a 401 while credentials rotate): the shipper honours it.
        return SendResult(outcome, detail, parse_retry_after(response.headers.get("Retry-After")), status)

    # -- OTLP/gRPC -------------------------------------------------------------------------------------------

    def _grpc_attempt(self, request: ExportTraceServiceRequest, count: int) -> Callable[[float], SendResult]:
        return lambda timeout: self._export(request, count, timeout)

    def _export(self, request: ExportTraceServiceRequest, count: int, timeout: float) -> SendResult:
        import grpc

        where = f"gRPC Export to {self._shown}"
        with self._lock:
            self.requests_sent += 1
        try:
            response = self._stub.Export(request, timeout=timeout, metadata=self._metadata,
                                         compression=self._grpc_compression)
        except grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            code_name = getattr(code, "name", "UNKNOWN")
            details = exc.details() if callable(getattr(exc, "details", None)) else None
            detail = f"{where}: {code_name} {str(details or '')[:300]!r}"
            if code_name == "RESOURCE_EXHAUSTED" and "larger than max" in str(details or ""):
                return SendResult(Outcome.REJECTED, detail, status=413)  # the receive limit: split, as a 413
            if code_name in RETRYABLE_GRPC_CODES:
                return SendResult(Outcome.RETRY_LATER, detail, _grpc_retry_after(exc))
            return SendResult(Outcome.REJECTED, detail)
        except ValueError as exc:  # "Cannot invoke RPC on closed channel!"
            return SendResult(Outcome.RETRY_LATER, f"{where}: {exc}")
        partial = cast(ExportTraceServiceResponse, response).partial_success
        self._partial_success(partial.rejected_spans, partial.error_message, count)
        return DELIVERED

    # -- the update memory -----------------------------------------------------------------------------------

    def _remember(self, events: Sequence[Event]) -> None:
        """Keep what was delivered (as compact JSON), session events apart (see the module's docstring)."""
        if not (self._remembered.enabled or self._sessions_remembered.enabled):
            return
        encoded: list[tuple[_Remembered, str, bytes]] = []
        for event in events:
            event_id = event.get("event_id")
            memory = self._sessions_remembered if event.get("event_type") == "session" else self._remembered
            if isinstance(event_id, str) and memory.enabled:
                encoded.append((memory, event_id, dumps(event)))
        with self._lock:
            for memory, event_id, data in encoded:
                memory.put(event_id, data)

    def _recall(self, event_id: str) -> Event | None:
        with self._lock:
            data = self._sessions_remembered.get(event_id) or self._remembered.get(event_id)
        if data is None:
            return None
        event: Event = orjson.loads(data)
        return event


class _Remembered:
    """Events as compact JSON by id, newest last, the oldest evicted past either bound (0: nothing kept).
    Not locked: the output's lock guards it."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.enabled = max_events > 0 and max_bytes > 0
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._events: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0

    def put(self, event_id: str, data: bytes) -> None:
        old = self._events.pop(event_id, None)
        if old is not None:
            self._bytes -= len(old)
        self._events[event_id] = data
        self._bytes += len(data)
        while self._events and (len(self._events) > self._max_events or self._bytes > self._max_bytes):
            _, dropped = self._events.popitem(last=False)
            self._bytes -= len(dropped)

    def get(self, event_id: str) -> bytes | None:
        data = self._events.get(event_id)
        if data is not None:
            self._events.move_to_end(event_id)
        return data


def cut_request(request: ExportTraceServiceRequest, budget: int) -> ExportTraceServiceRequest | None:
    """A copy of a one-span `request` within about `budget` bytes: the span's longest string attribute values
    (its own and its events') cut, each ending in `…[truncated N chars]`, their keys listed in the
    `otel_honeyhive.truncated` attribute. Ids and short values are kept. None when there is nothing to cut."""
    cut = ExportTraceServiceRequest()
    cut.CopyFrom(request)
    spans = [span for rs in cut.resource_spans for ss in rs.scope_spans for span in ss.spans]
    if len(spans) != 1:
        return None
    span = spans[0]
    values = [(utf8_size(kv.value.string_value), kv) for kv in span.attributes if kv.key != TRUNCATED_KEY]
    values += [(utf8_size(kv.value.string_value), kv) for event in span.events for kv in event.attributes]
    values = [(n, kv) for n, kv in values if n >= _CUT_MIN and kv.value.WhichOneof("value") == "string_value"]
    if not values:
        return None
    values.sort(key=lambda item: -item[0])
    keys: set[str] = {v.string_value for kv in span.attributes if kv.key == TRUNCATED_KEY
                      for v in kv.value.array_value.values}
    excess = cut.ByteSize() - budget + 256
    for length, kv in values:
        if excess <= 0:
            break
        keep = max(_CUT_MIN // 2, length - excess - 64)  # bytes: the budget counts UTF-8, not characters
        if keep >= length:
            continue
        kv.value.string_value = cut_text(kv.value.string_value, keep)
        excess -= length - utf8_size(kv.value.string_value)
        keys.add(kv.key)
    marker = next((kv for kv in span.attributes if kv.key == TRUNCATED_KEY), None)
    if marker is None:
        marker = span.attributes.add()
        marker.key = TRUNCATED_KEY
    marker.value.array_value.Clear()
    for key in sorted(keys):
        marker.value.array_value.values.add().string_value = key
    return cut


def _http_partial_success(response: requests.Response) -> tuple[int, str]:
    """`partial_success` of a 2xx answer, in the encoding the receiver used (protobuf, or JSON)."""
    content = response.content
    if not content:
        return 0, ""
    media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        try:
            document: Any = orjson.loads(content)
            partial = document.get("partialSuccess") or document.get("partial_success") or {}
            rejected = partial.get("rejectedSpans", partial.get("rejected_spans", 0))
            message = partial.get("errorMessage", partial.get("error_message", ""))
            return int(rejected or 0), str(message or "")
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return 0, ""
    try:
        parsed = ExportTraceServiceResponse.FromString(content)
    except Exception:  # google.protobuf.message.DecodeError, or anything a malformed answer raises
        return 0, ""
    return parsed.partial_success.rejected_spans, parsed.partial_success.error_message


def _http_error_message(response: requests.Response) -> str:
    """An error answer's message: a `google.rpc.Status` (as OTLP receivers send) or the start of the text."""
    media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-protobuf" and response.content:
        from google.rpc import status_pb2

        try:
            return str(status_pb2.Status.FromString(response.content).message)[:300]
        except Exception:
            return ""
    return response.text[:300]


def _grpc_retry_after(error: Any) -> float | None:
    """The receiver's hint: a `retry-after` trailing-metadata entry (as this bridge's receiver sends), or a
    `google.rpc.RetryInfo` in the status details (as the Collector sends)."""
    trailing = getattr(error, "trailing_metadata", None)
    try:
        metadata = (trailing() if callable(trailing) else None) or ()
    except Exception:
        return None
    for key, value in metadata:
        if key == "retry-after":
            return parse_retry_after(value if isinstance(value, str) else bytes(value).decode("ascii", "replace"))
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            try:
                from google.rpc import error_details_pb2, status_pb2

                status = status_pb2.Status.FromString(value)
                for detail in status.details:
                    if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                        info = error_details_pb2.RetryInfo()
                        detail.Unpack(info)
                        return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
            except Exception:
                return None
    return None


__all__ = ["PROTOCOLS", "OtlpOutput", "OtlpProtocol", "cut_request", "grpc_target", "traces_url"]
