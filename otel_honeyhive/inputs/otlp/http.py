"""OTLP/HTTP `POST /v1/traces`, behaving like the Collector's otlpreceiver.

protobuf or JSON (media-type parameters allowed; anything else 415), gzip/deflate, the body limit applied after
decompression (413), undecodable data 400 with a `google.rpc.Status` body in the request's encoding, and an
`ExportTraceServiceResponse` with `partial_success` when some spans were rejected. Backpressure is 503 with
`Retry-After`. Decoding and mapping run in a worker thread, off the event loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from otel_honeyhive.inputs.http_common import ApiContext, BodyError, read_body
from otel_honeyhive.inputs.otlp.decode_json import decode_json
from otel_honeyhive.inputs.otlp.decode_proto import DecodeResult, decode_protobuf
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from otel_honeyhive.metrics import SPANS_REJECTED
from otel_honeyhive.outputs.base import Outcome

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_DECODERS: dict[str, Callable[[bytes], DecodeResult]] = {PROTOBUF: decode_protobuf, JSON: decode_json}
_DEFAULT_RETRY_AFTER = 5.0
_HTTP_TO_RPC = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 413: code_pb2.INVALID_ARGUMENT,
                415: code_pb2.INVALID_ARGUMENT, 429: code_pb2.RESOURCE_EXHAUSTED, 500: code_pb2.INTERNAL,
                502: code_pb2.UNAVAILABLE, 503: code_pb2.UNAVAILABLE}


def _encode(message: ExportTraceServiceResponse | status_pb2.Status, media_type: str) -> bytes:
    if media_type == JSON:
        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode()
    data: bytes = message.SerializeToString()
    return data


def status_response(status: int, message: str, media_type: str, headers: dict[str, str] | None = None) -> Response:
    body = status_pb2.Status(code=_HTTP_TO_RPC.get(status, code_pb2.UNKNOWN), message=message)
    return Response(_encode(body, media_type), status_code=status, media_type=media_type, headers=headers)


def media_type_of(request: Request) -> str | None:
    declared = request.headers.get("content-type", "")
    media_type = declared.split(";", 1)[0].strip().lower()
    return media_type if media_type in _DECODERS else None


class OtlpHttpReceiver:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    async def export(self, request: Request) -> Response:
        media_type = media_type_of(request)
        if media_type is None:
            declared = request.headers.get("content-type", "(none)")
            return status_response(415, f"unsupported Content-Type {declared!r}; send {PROTOBUF} or {JSON}", JSON)
        try:
            body = await read_body(request, self.ctx.max_body_bytes)
        except BodyError as exc:
            return status_response(exc.status, exc.message, media_type)
        try:
            decoded = await run_in_threadpool(_DECODERS[media_type], body)
        except OtlpDecodeError as exc:
            return status_response(400, f"cannot decode the request as OTLP ({media_type}): {exc}", media_type)
        result = await self.ctx.spans(decoded.spans)
        if not result.ok:
            if result.outcome is Outcome.RETRY_LATER:
                after = result.retry_after if result.retry_after is not None else _DEFAULT_RETRY_AFTER
                return status_response(503, result.detail or "try again later", media_type,
                                       {"Retry-After": str(max(1, math.ceil(after)))})
            return status_response(500 if not self.ctx.remote else 502, result.detail, media_type)
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            self.ctx.counters.add(SPANS_REJECTED, decoded.rejected, input="otlp_http")
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = "; ".join(decoded.errors[:10])
        return Response(_encode(response, media_type), status_code=200, media_type=media_type)


def otlp_http_routes(ctx: ApiContext) -> list[BaseRoute]:
    return [Route("/v1/traces", OtlpHttpReceiver(ctx).export, methods=["POST"])]
