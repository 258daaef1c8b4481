"""OTLP/gRPC `TraceService/Export` and `LogsService/Export` on grpcio's own server, feeding the same pipeline as
OTLP/HTTP; the metrics service acknowledges what it is sent without keeping it (other_signals.py).

The receive limit is set explicitly (grpcio's default is 4 MiB); a bearer token, when configured, is checked in
constant time (UNAUTHENTICATED otherwise); backpressure is UNAVAILABLE with a `retry-after` hint in the trailing
metadata, which OTLP exporters treat as retryable. Requests arrive as bytes and are parsed here, so a body that
is not an `ExportTraceServiceRequest` (`ExportLogsServiceRequest`) is INVALID_ARGUMENT with the parser's message
(grpcio's own deserializer would answer INTERNAL). TLS: pass `credentials` (`grpc.ssl_server_credentials`).

Each `Export` is served as a client-streaming method taking one message (the same on the wire as a unary call):
the handler runs as the call arrives, so the token and the in-flight limit are checked before the message is
read, and a call grpcio ends before its message arrives (over the receive limit) is still counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_honeyhive.core.addresses import address
from otel_honeyhive.core.counters import LOG_RECORDS_REJECTED, REQUESTS, SPANS_REJECTED, Counters
from otel_honeyhive.core.protocols import Sink
from otel_honeyhive.core.results import SendResult
from otel_honeyhive.core.secrets import BearerToken, Secret
from otel_honeyhive.core.status import refusal
from otel_honeyhive.inputs.otlp.decode_proto import DecodeResult, decode_protobuf, decode_request
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from otel_honeyhive.inputs.otlp.logs import decode_logs_protobuf
from otel_honeyhive.inputs.otlp.other_signals import NOT_KEPT_SIGNALS, Signal

logger = logging.getLogger("otel_honeyhive.server.grpc")

T = TypeVar("T")

MAX_IN_FLIGHT = 64
"""Export calls inside the services at once, every signal counted (each may hold a message up to the receive
limit): past it a call is answered UNAVAILABLE with `retry-after: 1` before its message is read, as OTLP/HTTP
answers 503 (server/in_flight.py)."""
SPARE_WORKERS = 8
"""Threads beyond `MAX_IN_FLIGHT`, so that a call past the limit is refused at once, not queued behind exports."""
QUEUED_CALLS_PER_WORKER = 4
"""grpcio's own cap (`maximum_concurrent_rpcs`) is this many calls per thread, running and queued: past it grpcio
answers RESOURCE_EXHAUSTED without a retry hint, which the Collector's OTLP exporter takes as permanent and drops
the data, so it is only the last bound, far above `MAX_IN_FLIGHT`."""
RETRY_AFTER_SECONDS = 1
ENDED_WAIT_SECONDS = 0.5
"""How long a call whose stream closed without a message may take to end (grpcio refused its message), before it
is answered as carrying none."""
SERVICE_NAME = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE_NAME = "opentelemetry.proto.collector.logs.v1.LogsService"


class _Refused(Exception):
    """How `_export` says no: the status, the message, and trailing metadata (a retry hint)."""

    def __init__(self, code: grpc.StatusCode, message: str, trailing: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.trailing = trailing


class _Ended(Exception):
    """The call ended before its message arrived whole; `status` is what it is counted as."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class InFlight:
    """The Export calls inside the services, shared by all of them (grpcio runs each in its own thread)."""

    def __init__(self, limit: int = MAX_IN_FLIGHT) -> None:
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Take a place, or False when all `limit` are taken."""
        with self._lock:
            if self.count >= self.limit:
                return False
            self.count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


def _ended(context: grpc.ServicerContext) -> _Ended:
    """How a call grpcio ended before its message reached the handler is counted. grpcio does so to a message
    over the receive limit (answering RESOURCE_EXHAUSTED itself) and tells the handler only that the call ended,
    as it does when the client cancels; a call whose deadline passed is told apart by its time remaining."""
    remaining = context.time_remaining()
    expired = remaining is not None and remaining <= 0
    return _Ended(grpc.StatusCode.DEADLINE_EXCEEDED.name if expired else grpc.StatusCode.RESOURCE_EXHAUSTED.name)


def _ends(context: grpc.ServicerContext) -> bool:
    """Whether the call ends within `ENDED_WAIT_SECONDS`: grpcio may close a refused message's stream before it
    ends the call."""
    ended = threading.Event()
    return not context.add_callback(ended.set) or ended.wait(ENDED_WAIT_SECONDS)


def _receive(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    """The call's one message; `_Ended` when grpcio ended the call instead."""
    try:
        data = next(requests, None)
    except grpc.RpcError:
        raise _ended(context) from None
    if data is None:
        if _ends(context):
            raise _ended(context)
        raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message")
    return data


class _Service:
    """What every service here shares: the bearer token, checked in constant time, the in-flight limit, and
    requests counted by the status they were answered with."""

    def __init__(self, auth_token: Secret | None, counters: Counters | None, in_flight: InFlight | None = None
                 ) -> None:
        self.counters = counters if counters is not None else Counters()
        self._token = BearerToken(auth_token) if auth_token else None
        self.in_flight = in_flight if in_flight is not None else InFlight()

    def _export(self, data: bytes) -> Message:
        raise NotImplementedError

    def export_bytes(self, data: bytes, context: grpc.ServicerContext) -> Message:
        """One request's bytes, already received."""
        return self._answer(lambda: self._export(data), context)

    def export_stream(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Message | None:
        """The registered handler: the token and the in-flight limit checked before the message is read. None
        when the call ended before its message arrived (counted; grpcio has answered it)."""
        def produce() -> Message:
            if not self.in_flight.enter():
                raise _Refused(grpc.StatusCode.UNAVAILABLE, f"more than {self.in_flight.limit} requests in flight; "
                               f"retry after {RETRY_AFTER_SECONDS} s", (("retry-after", str(RETRY_AFTER_SECONDS)),))
            try:
                return self._export(_receive(requests, context))
            finally:
                self.in_flight.leave()

        try:
            return self._answer(produce, context)
        except _Ended as ended:
            self.counters.add(REQUESTS, input="otlp_grpc", status=ended.status)
            return None

    def _authorised(self, context: grpc.ServicerContext) -> bool:
        if self._token is None:
            return True
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                return self._token.allows(value)
        return False

    def _answer(self, produce: Callable[[], T], context: grpc.ServicerContext) -> T:
        try:
            if not self._authorised(context):
                raise _Refused(grpc.StatusCode.UNAUTHENTICATED, BearerToken.REFUSAL)
            response = produce()
        except _Refused as refused:
            self.counters.add(REQUESTS, input="otlp_grpc", status=refused.code.name)
            if refused.trailing:
                context.set_trailing_metadata(refused.trailing)
            context.abort(refused.code, refused.message)
            raise AssertionError("grpc's context.abort returns only by raising") from None
        self.counters.add(REQUESTS, input="otlp_grpc", status=grpc.StatusCode.OK.name)
        return response


def _decoded(decode: Callable[[], T]) -> T:
    """What `decode` gives, or INVALID_ARGUMENT naming why the request does not decode (any signal)."""
    try:
        return decode()
    except OtlpDecodeError as exc:
        raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode the request: {exc}") from None


def _hand_on(accept: Callable[[], SendResult], *, remote: bool) -> None:
    """Hand decoded data to the pipeline; a refusal (or a pipeline that raised) becomes the gRPC status."""
    try:
        result = accept()
    except Exception as exc:
        logger.exception("the pipeline failed")
        raise _Refused(grpc.StatusCode.UNAVAILABLE, f"the pipeline failed: {type(exc).__name__}") from None
    if not result.ok:
        answer = refusal(result, remote=remote)
        raise _Refused(grpc.StatusCode[answer.grpc_code], answer.message, answer.trailing_metadata)


class TraceService(_Service, trace_service_pb2_grpc.TraceServiceServicer):
    """`Export`, counted in `counters` (requests by status code, rejected spans). Registered on raw bytes
    (`export_bytes`) so that a body protobuf cannot parse is INVALID_ARGUMENT with a message, as OTLP asks,
    rather than grpcio's INTERNAL "Exception deserializing request!"."""

    def __init__(
        self, sink: Sink, auth_token: Secret | None, counters: Counters | None = None, *, remote: bool = False,
        in_flight: InFlight | None = None,
    ) -> None:
        """`remote`: the output is a remote service (see `core.status.refusal`)."""
        super().__init__(auth_token, counters, in_flight)
        self.sink = sink
        self.remote = remote

    def Export(
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        return self._answer(lambda: self._export_decoded(lambda: decode_request(request)), context)

    def _export(self, data: bytes) -> ExportTraceServiceResponse:
        return self._export_decoded(lambda: decode_protobuf(data))

    def _export_decoded(self, decode: Callable[[], DecodeResult]) -> ExportTraceServiceResponse:
        decoded = _decoded(decode)
        _hand_on(lambda: self.sink.accept_spans(decoded.spans), remote=self.remote)
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            self.counters.add(SPANS_REJECTED, decoded.rejected, input="otlp_grpc")
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = "; ".join(decoded.errors[:10])
        return response


class LogsService(_Service):
    """`LogsService/Export` on raw bytes: every record decoded into a `LogRecordView` and handed to the pipeline;
    records with unusable ids counted in `partial_success`; a body that is not a logs request INVALID_ARGUMENT."""

    def __init__(
        self, sink: Sink, auth_token: Secret | None, counters: Counters | None = None, *, remote: bool = False,
        in_flight: InFlight | None = None,
    ) -> None:
        super().__init__(auth_token, counters, in_flight)
        self.sink = sink
        self.remote = remote

    def _export(self, data: bytes) -> ExportLogsServiceResponse:
        decoded = _decoded(lambda: decode_logs_protobuf(data))
        _hand_on(lambda: self.sink.accept_records(decoded.records), remote=self.remote)
        response = ExportLogsServiceResponse()
        if decoded.rejected:
            self.counters.add(LOG_RECORDS_REJECTED, decoded.rejected, input="otlp_grpc")
            response.partial_success.rejected_log_records = decoded.rejected
            response.partial_success.error_message = decoded.error_message
        return response


class NotKeptService(_Service):
    """`Export` of a signal the bridge does not keep: decoded (INVALID_ARGUMENT when it cannot be), then answered
    with every item counted in `partial_success` as not kept."""

    def __init__(self, signal: Signal, auth_token: Secret | None, counters: Counters | None = None,
                 in_flight: InFlight | None = None) -> None:
        super().__init__(auth_token, counters, in_flight)
        self.signal = signal

    def _export(self, data: bytes) -> Message:
        try:
            return self.signal.not_kept(self.signal.decode(data, json=False))
        except OtlpDecodeError as exc:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None


def _serialized(message: Message | None) -> bytes:
    """A response's bytes (None: the call ended before its request came, and nothing is sent)."""
    return b"" if message is None else message.SerializeToString()


def _export_handler(service: str, handler: _Service) -> Any:
    """The generic handler serving `service/Export` with `handler`, which reads the request's bytes itself."""
    return grpc.method_handlers_generic_handler(service, {
        "Export": grpc.stream_unary_rpc_method_handler(handler.export_stream, response_serializer=_serialized),
    })


def start_grpc_server(
    sink: Sink,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    auth_token: Secret | None = None,
    max_in_flight: int = MAX_IN_FLIGHT,
    credentials: grpc.ServerCredentials | None = None,
    counters: Counters | None = None,
    remote: bool = False,
) -> tuple[grpc.Server, int]:
    """Start serving (TLS when `credentials` are given); returns the server and the port it bound (useful when
    `port` is 0). `max_in_flight`: Export calls served at once; past it, UNAVAILABLE with `retry-after`."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", 16 * 1024 * 1024),
        ("grpc.so_reuseport", 0),
    ]
    workers = max_in_flight + SPARE_WORKERS
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
                         options=options, maximum_concurrent_rpcs=workers * QUEUED_CALLS_PER_WORKER)
    in_flight = InFlight(max_in_flight)
    traces = TraceService(sink, auth_token, counters, remote=remote, in_flight=in_flight)
    logs = LogsService(sink, auth_token, traces.counters, remote=remote, in_flight=in_flight)
    server.add_generic_rpc_handlers((
        _export_handler(SERVICE_NAME, traces),
        _export_handler(LOGS_SERVICE_NAME, logs),
        *(_export_handler(signal.service, NotKeptService(signal, auth_token, traces.counters, in_flight))
          for signal in NOT_KEPT_SIGNALS),
    ))
    where = address(host, port)
    try:
        bound = server.add_secure_port(where, credentials) if credentials else server.add_insecure_port(where)
    except RuntimeError:  # grpcio raises "Failed to bind to address" (releases before 1.62 returned 0)
        bound = 0
    if bound == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {where}")
    server.start()
    return server, bound
