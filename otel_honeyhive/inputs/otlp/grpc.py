"""OTLP/gRPC `TraceService/Export` on grpcio's own server, feeding the same intake as OTLP/HTTP.

The receive limit is set explicitly (grpcio's default is 4 MiB); a bearer token, when configured, is checked in
constant time (UNAUTHENTICATED otherwise); backpressure is UNAVAILABLE with a `retry-after` hint in the trailing
metadata, which OTLP exporters treat as retryable.
"""

from __future__ import annotations

import hmac
import logging
import math
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_honeyhive.config import Secret
from otel_honeyhive.inputs.http_common import Sink
from otel_honeyhive.inputs.otlp.decode_proto import decode_request
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from otel_honeyhive.outputs.base import Outcome

logger = logging.getLogger("otel_honeyhive.server.grpc")

DEFAULT_WORKERS = 4


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: Sink, auth_token: Secret | None) -> None:
        self.sink = sink
        self._expected = ("Bearer " + auth_token.reveal()).encode() if auth_token else None

    def _authorised(self, context: grpc.ServicerContext) -> bool:
        if self._expected is None:
            return True
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else bytes(value)
                return hmac.compare_digest(given, self._expected)
        return False

    def Export(
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        if not self._authorised(context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            decoded = decode_request(request)
        except OtlpDecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode the request: {exc}")
        try:
            result = self.sink.accept_spans(decoded.spans)
        except Exception as exc:
            logger.exception("intake failed")
            context.abort(grpc.StatusCode.UNAVAILABLE, f"intake failed: {type(exc).__name__}")
        if not result.ok:
            if result.outcome is Outcome.RETRY_LATER:
                after = result.retry_after if result.retry_after is not None else 5.0
                context.set_trailing_metadata((("retry-after", str(max(1, math.ceil(after)))),))
                context.abort(grpc.StatusCode.UNAVAILABLE, result.detail or "try again later")
            context.abort(grpc.StatusCode.INTERNAL, result.detail)
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = "; ".join(decoded.errors[:10])
        return response


def start_grpc_server(
    sink: Sink,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    auth_token: Secret | None = None,
    workers: int = DEFAULT_WORKERS,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.Server, int]:
    """Start serving; returns the server and the port it bound (useful when `port` is 0)."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", 16 * 1024 * 1024),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
                         options=options, maximum_concurrent_rpcs=workers * 16)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        TraceService(sink, auth_token), server
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot bind the gRPC port {address}")
    server.start()
    return server, bound
