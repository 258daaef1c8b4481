"""OTLP/gRPC `TraceService/Export` and `LogsService/Export` on grpcio's own server, feeding the same pipeline as
OTLP/HTTP; the metrics service acknowledges what it is sent without keeping it (other_signals.py).

The receive limit is set explicitly (grpcio's default is 4 MiB); a bearer token, when configured, is checked in
constant time (UNAUTHENTICATED otherwise); backpressure is UNAVAILABLE with a `retry-after` hint in the trailing
metadata, which OTLP exporters treat as retryable. Requests arrive as bytes and are parsed here, so a body that
is not an `ExportTraceServiceRequest` (`ExportLogsServiceRequest`) is INVALID_ARGUMENT with the parser's message
(grpcio's own deserializer would answer INTERNAL). TLS: pass `credentials` (`grpc.ssl_server_credentials`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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

DEFAULT_WORKERS = 4
SERVICE_NAME = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE_NAME = "opentelemetry.proto.collector.logs.v1.LogsService"


class _Refused(Exception):
    """How `_export` says no: the status, the message, and trailing metadata (a retry hint)."""

    def __init__(self, code: grpc.StatusCode, message: str, trailing: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.trailing = trailing


class _Service:
    """What every service here shares: the bearer token, checked in constant time, and requests counted by the
    status they were answered with."""

    def __init__(self, auth_token: Secret | None, counters: Counters | None) -> None:
        self.counters = counters if counters is not None else Counters()
        self._token = BearerToken(auth_token) if auth_token else None

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
        self, sink: Sink, auth_token: Secret | None, counters: Counters | None = None, *, remote: bool = False
    ) -> None:
        """`remote`: the output is a remote service (see `core.status.refusal`)."""
        super().__init__(auth_token, counters)
        self.sink = sink
        self.remote = remote

    def Export(
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        return self._answer(lambda: self._export(lambda: decode_request(request)), context)

    def export_bytes(self, data: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        return self._answer(lambda: self._export(lambda: decode_protobuf(data)), context)

    def _export(self, decode: Callable[[], DecodeResult]) -> ExportTraceServiceResponse:
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
        self, sink: Sink, auth_token: Secret | None, counters: Counters | None = None, *, remote: bool = False
    ) -> None:
        super().__init__(auth_token, counters)
        self.sink = sink
        self.remote = remote

    def export_bytes(self, data: bytes, context: grpc.ServicerContext) -> ExportLogsServiceResponse:
        return self._answer(lambda: self._export(data), context)

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

    def __init__(self, signal: Signal, auth_token: Secret | None, counters: Counters | None = None) -> None:
        super().__init__(auth_token, counters)
        self.signal = signal

    def export_bytes(self, data: bytes, context: grpc.ServicerContext) -> Message:
        return self._answer(lambda: self._export(data), context)

    def _export(self, data: bytes) -> Message:
        try:
            return self.signal.not_kept(self.signal.decode(data, json=False))
        except OtlpDecodeError as exc:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None


def _export_handler(service: str, export: Callable[[bytes, grpc.ServicerContext], Message]) -> Any:
    """The generic handler serving `service/Export` with `export`, which gets the request's bytes."""
    return grpc.method_handlers_generic_handler(service, {
        "Export": grpc.unary_unary_rpc_method_handler(export, response_serializer=lambda m: m.SerializeToString()),
    })


def start_grpc_server(
    sink: Sink,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    auth_token: Secret | None = None,
    workers: int = DEFAULT_WORKERS,
    credentials: grpc.ServerCredentials | None = None,
    counters: Counters | None = None,
    remote: bool = False,
) -> tuple[grpc.Server, int]:
    """Start serving (TLS when `credentials` are given); returns the server and the port it bound (useful when
    `port` is 0)."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", 16 * 1024 * 1024),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
                         options=options, maximum_concurrent_rpcs=workers * 16)
    traces = TraceService(sink, auth_token, counters, remote=remote)
    logs = LogsService(sink, auth_token, traces.counters, remote=remote)
    server.add_generic_rpc_handlers((
        _export_handler(SERVICE_NAME, traces.export_bytes),
        _export_handler(LOGS_SERVICE_NAME, logs.export_bytes),
        *(_export_handler(signal.service, NotKeptService(signal, auth_token, traces.counters).export_bytes)
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
