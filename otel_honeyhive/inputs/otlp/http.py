"""OTLP/HTTP `POST /v1/traces` and `POST /v1/logs`, behaving like the Collector's otlpreceiver; `/v1/metrics` is
acknowledged and not kept (other_signals.py).

protobuf or JSON (media-type parameters allowed; anything else 415), gzip, deflate/zlib or zstd, the body limit
applied after decompression (413), undecodable data 400 with a `google.rpc.Status` body in the request's encoding,
and an `ExportTraceServiceResponse` (`ExportLogsServiceResponse`) with `partial_success` when some spans (log
records) were rejected. Backpressure is 503 with `Retry-After`. Decoding and mapping run in a worker thread, off
the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import NamedTuple, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from otel_honeyhive.core.counters import LOG_RECORDS_REJECTED, SPANS_REJECTED
from otel_honeyhive.core.results import SendResult
from otel_honeyhive.core.status import GRPC_CODE_OF_HTTP, refusal
from otel_honeyhive.inputs.http_common import ApiContext, BodyError, read_body
from otel_honeyhive.inputs.otlp.decode_json import decode_json
from otel_honeyhive.inputs.otlp.decode_proto import DecodeResult, decode_protobuf
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from otel_honeyhive.inputs.otlp.logs import LogsDecodeResult, decode_logs_json, decode_logs_protobuf
from otel_honeyhive.inputs.otlp.other_signals import NOT_KEPT_SIGNALS, Signal

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
Decoded = TypeVar("Decoded")

_DECODERS: dict[str, Callable[[bytes], DecodeResult]] = {PROTOBUF: decode_protobuf, JSON: decode_json}
_LOGS_DECODERS: dict[str, Callable[[bytes], LogsDecodeResult]] = {
    PROTOBUF: decode_logs_protobuf, JSON: decode_logs_json,
}
LOGS_PATH = "/v1/logs"


HONEYHIVE_SDK_TRACES_PATH = "/opentelemetry/v1/traces"
"""Where HoneyHive's own SDK posts OTLP/JSON (`{HH_API_URL}/opentelemetry/v1/traces`): served as `/v1/traces` is, so
an app instrumented with that SDK works against the local server by changing only `HH_API_URL`."""


class _Undecodable(NamedTuple):
    reason: str


def _decoded(decode: Callable[[bytes], Decoded], body: bytes) -> Decoded | _Undecodable:
    """`decode(body)`, run in a worker thread, with its refusal returned rather than raised: an exception raised
    through the thread's future is kept in a reference cycle (future, exception, traceback, the awaiting frame)
    with the request's body, freed only when the garbage collector next looks (server/memory.py)."""
    try:
        return decode(body)
    except OtlpDecodeError as exc:
        return _Undecodable(str(exc))


def _encode(message: Message, media_type: str) -> bytes:
    if media_type == JSON:
        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode()
    data: bytes = message.SerializeToString()
    return data


def status_response(status: int, message: str, media_type: str, headers: dict[str, str] | None = None) -> Response:
    code = code_pb2.Code.Value(GRPC_CODE_OF_HTTP.get(status, "UNKNOWN"))
    body = status_pb2.Status(code=code, message=message)
    return Response(_encode(body, media_type), status_code=status, media_type=media_type, headers=headers)


def media_type_of(request: Request) -> str | None:
    declared = request.headers.get("content-type", "")
    media_type = declared.split(";", 1)[0].strip().lower()
    return media_type if media_type in _DECODERS else None


async def _read(request: Request, limit: int) -> tuple[str, bytes] | Response:
    """The request's media type and body, or the answer refusing it (415, 413, 400)."""
    media_type = media_type_of(request)
    if media_type is None:
        declared = request.headers.get("content-type", "(none)")
        return status_response(415, f"unsupported Content-Type {declared!r}; send {PROTOBUF} or {JSON}", JSON)
    try:
        return media_type, await read_body(request, limit)
    except BodyError as exc:
        return status_response(exc.status, exc.message, media_type)


async def _decode(request: Request, limit: int, decoders: Mapping[str, Callable[[bytes], Decoded]], what: str
                  ) -> tuple[str, Decoded] | Response:
    """Read and decode a request of any signal: (media type, what it decoded), or the error answer."""
    read = await _read(request, limit)
    if isinstance(read, Response):
        return read
    media_type, body = read
    decoded = await run_in_threadpool(_decoded, decoders[media_type], body)
    if isinstance(decoded, _Undecodable):
        return status_response(400, f"cannot decode the request as {what} ({media_type}): {decoded.reason}",
                               media_type)
    return media_type, decoded


def _refused(result: SendResult, ctx: ApiContext, media_type: str) -> Response | None:
    """The answer to a hand-off the pipeline did not take (None when it did)."""
    if result.ok:
        return None
    answer = refusal(result, remote=ctx.remote)
    return status_response(answer.http_status, answer.message, media_type, answer.headers)


class OtlpHttpReceiver:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    async def export(self, request: Request) -> Response:
        decoding = await _decode(request, self.ctx.max_body_bytes, _DECODERS, "OTLP")
        if isinstance(decoding, Response):
            return decoding
        media_type, decoded = decoding
        refused = _refused(await self.ctx.spans(decoded.spans), self.ctx, media_type)
        if refused is not None:
            return refused
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            self.ctx.counters.add(SPANS_REJECTED, decoded.rejected, input="otlp_http")
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = "; ".join(decoded.errors[:10])
        return Response(_encode(response, media_type), status_code=200, media_type=media_type)


class OtlpLogsReceiver:
    """`POST /v1/logs`: every record decoded into a `LogRecordView` and handed to the pipeline, which joins GenAI
    records to their spans' events; records with unusable ids are told in `partial_success`."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    async def export(self, request: Request) -> Response:
        decoding = await _decode(request, self.ctx.max_body_bytes, _LOGS_DECODERS, "OTLP logs")
        if isinstance(decoding, Response):
            return decoding
        media_type, decoded = decoding
        refused = _refused(await self.ctx.records(decoded.records), self.ctx, media_type)
        if refused is not None:
            return refused
        response = ExportLogsServiceResponse()
        if decoded.rejected:
            self.ctx.counters.add(LOG_RECORDS_REJECTED, decoded.rejected, input="otlp_http")
            response.partial_success.rejected_log_records = decoded.rejected
            response.partial_success.error_message = decoded.error_message
        return Response(_encode(response, media_type), status_code=200, media_type=media_type)


class NotKeptReceiver:
    """A signal the bridge does not keep: checked like traces (type, size, syntax), then acknowledged with every
    item counted in `partial_success` as not kept."""

    def __init__(self, ctx: ApiContext, signal: Signal) -> None:
        self.ctx = ctx
        self.signal = signal

    async def export(self, request: Request) -> Response:
        read = await _read(request, self.ctx.max_body_bytes)
        if isinstance(read, Response):
            return read
        media_type, body = read
        message = await run_in_threadpool(_decoded, partial(self.signal.decode, json=media_type == JSON), body)
        if isinstance(message, _Undecodable):
            return status_response(400, message.reason, media_type)
        return Response(_encode(self.signal.not_kept(message), media_type), status_code=200, media_type=media_type)


OTLP_PATHS = frozenset({"/v1/traces", HONEYHIVE_SDK_TRACES_PATH, LOGS_PATH,
                        *(signal.path for signal in NOT_KEPT_SIGNALS)})
"""The routes answered as OTLP/HTTP answers: errors as a `google.rpc.Status` in the request's encoding."""


def refusal_response(request_headers: Mapping[str, str], status: int, message: str,
                     headers: dict[str, str] | None = None) -> Response:
    """An error answer for an OTLP route given before its handler runs (a missing token): a `Status` in the
    request's encoding, protobuf when it declared none the bridge reads."""
    declared = request_headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return status_response(status, message, declared if declared in _DECODERS else PROTOBUF, headers)


def otlp_http_routes(ctx: ApiContext) -> list[BaseRoute]:
    traces = OtlpHttpReceiver(ctx).export
    return [
        Route("/v1/traces", traces, methods=["POST"]),
        Route(HONEYHIVE_SDK_TRACES_PATH, traces, methods=["POST"]),
        Route(LOGS_PATH, OtlpLogsReceiver(ctx).export, methods=["POST"]),
        *(Route(signal.path, NotKeptReceiver(ctx, signal).export, methods=["POST"]) for signal in NOT_KEPT_SIGNALS),
    ]
