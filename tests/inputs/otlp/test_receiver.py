"""The OTLP receiver end to end: real OTLP exporters (HTTP and gRPC) and raw OTLP/JSON into a real
`otel-honeyhive serve`, compared with `spans_to_events` on the same spans."""

from __future__ import annotations

import gzip
import random
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_honeyhive import spans_to_events
from otel_honeyhive.mapper.identity import session_id_for_trace
from tests.support.compression import zstd
from tests.support.server import RunningServer, run_server
from tests.support.spans import Recorder, agent_span, chat_span, retriever_span, tool_span, user_message

SOURCE = "receiver-test"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def llm_spans(traces: int = 3) -> list[ReadableSpan]:
    """Real SDK spans: per trace a root, a retriever, a model call with messages, and a nested tool."""
    recorder = Recorder("receiver-test", scope="tests.receiver", version="2.0")
    tracer = recorder.tracer
    for i in range(traces):
        with agent_span(tracer, f"agent-{i}", f"q{i}"):
            with retriever_span(tracer, "doc"):
                pass
            with chat_span(tracer, attributes={"gen_ai.input.messages": user_message(f"hello {i}"),
                                               "gen_ai.usage.input_tokens": 10 + i, "tags": ("a", "b")}) as chat:
                chat.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop"})
                with tool_span(tracer) as tool:
                    tool.set_status(trace.Status(trace.StatusCode.ERROR, "tool failed"))
    return recorder.spans()


def stored_events(server: RunningServer, spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    sessions = {session_id_for_trace(s.context.trace_id) for s in spans}
    with server.store() as store:
        events = [e for sid in sorted(sessions) for e in store.session_events(sid)]
    return sorted(events, key=lambda e: e["event_id"])


def expected_events(spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    return sorted(spans_to_events(spans, source=SOURCE), key=lambda e: e["event_id"])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path, "--source", SOURCE, grpc=True) as s:
        yield s


# -- same events as the in-process exporter --------------------------------------------------------------------


def test_otlp_http_protobuf_from_the_real_exporter_gives_the_exporters_events(server: RunningServer) -> None:
    spans = llm_spans()
    exporter = HttpSpanExporter(endpoint=server.url + "/v1/traces")
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()  # type: ignore[no-untyped-call]  # unannotated in the OTLP exporter
    assert stored_events(server, spans) == expected_events(spans)


def test_otlp_grpc_from_the_real_exporter_gives_the_exporters_events(server: RunningServer) -> None:
    spans = llm_spans()
    exporter = GrpcSpanExporter(endpoint=server.grpc_target, insecure=True)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert stored_events(server, spans) == expected_events(spans)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_whatever_way_the_client_batches_the_events_are_identical(server: RunningServer, seed: int) -> None:
    spans = llm_spans()
    rng = random.Random(seed)
    exporter = HttpSpanExporter(endpoint=server.url + "/v1/traces")
    remaining = list(spans)  # children before their roots, as the BatchSpanProcessor sends them
    while remaining:
        n = rng.randint(1, 4)
        assert exporter.export(remaining[:n]) is SpanExportResult.SUCCESS
        remaining = remaining[n:]
    exporter.shutdown()  # type: ignore[no-untyped-call]  # unannotated in the OTLP exporter
    assert stored_events(server, spans) == expected_events(spans)


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """OTLP/JSON as the specification wants it: hex ids (MessageToDict writes base64), string int64s."""
    doc = json_format.MessageToDict(encode_spans(spans))
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = __import__("base64").b64decode(span[key]).hex()
    return doc


def test_raw_otlp_json_gives_the_exporters_events(server: RunningServer) -> None:
    spans = llm_spans()
    response = requests.post(server.url + "/v1/traces", json=otlp_json(spans), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {}, "partial_success is unset when everything was accepted"
    assert stored_events(server, spans) == expected_events(spans)


def test_gzip_deflate_zlib_and_zstd_bodies(server: RunningServer) -> None:
    """What the Collector's exporters send (`compression: gzip | deflate | zlib | zstd`)."""
    spans = llm_spans(2)
    body = encode_spans(spans).SerializeToString()
    encoded = {"gzip": gzip.compress(body), "deflate": zlib.compress(body), "zlib": zlib.compress(body),
               "zstd": zstd.compress(body)}
    for encoding, data in encoded.items():
        response = requests.post(
            server.url + "/v1/traces", data=data, timeout=10, headers={**PROTOBUF, "Content-Encoding": encoding}
        )
        assert response.status_code == 200
    assert stored_events(server, spans) == expected_events(spans)


def test_an_empty_request_is_accepted(server: RunningServer) -> None:
    response = requests.post(server.url + "/v1/traces", data=b"", headers=PROTOBUF, timeout=5)
    assert response.status_code == 200
    assert trace_service_pb2.ExportTraceServiceResponse.FromString(response.content).ByteSize() == 0


# -- Collector-grade edges ---------------------------------------------------------------------------------------


def rpc_status(response: requests.Response) -> status_pb2.Status:
    if response.headers["Content-Type"].startswith("application/json"):
        return json_format.Parse(response.text, status_pb2.Status())
    return status_pb2.Status.FromString(response.content)


def test_wrong_content_type_is_415(server: RunningServer) -> None:
    response = requests.post(server.url + "/v1/traces", data=b"x", headers={"Content-Type": "text/plain"}, timeout=5)
    assert response.status_code == 415
    assert "text/plain" in rpc_status(response).message


def test_wrong_method_is_405(server: RunningServer) -> None:
    response = requests.get(server.url + "/v1/traces", timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_undecodable_protobuf_is_400_with_a_status_body(server: RunningServer) -> None:
    response = requests.post(server.url + "/v1/traces", data=b"\xff\xff\xff garbage", headers=PROTOBUF, timeout=5)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/x-protobuf"
    status = rpc_status(response)
    assert status.code == 3 and "cannot decode" in status.message  # INVALID_ARGUMENT


def test_undecodable_json_is_400_with_a_json_status_body(server: RunningServer) -> None:
    response = requests.post(
        server.url + "/v1/traces", data=b'{"resourceSpans": 7}', headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.status_code == 400
    assert "resourceSpans" in rpc_status(response).message


def test_unknown_content_encoding_is_400(server: RunningServer) -> None:
    response = requests.post(
        server.url + "/v1/traces", data=b"x", timeout=5, headers={**PROTOBUF, "Content-Encoding": "br"}
    )
    assert response.status_code == 400


def test_spans_with_bad_ids_are_rejected_with_partial_success(server: RunningServer) -> None:
    doc = otlp_json(llm_spans(1))
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["traceId"] = "00" * 16
    spans[1]["spanId"] = "not-hex!"
    response = requests.post(server.url + "/v1/traces", json=doc, timeout=10)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 2 and partial["errorMessage"]


@pytest.mark.slow
def test_the_body_limit_applies_after_decompression(tmp_path: Path) -> None:
    with run_server(tmp_path, "--max-body-bytes", "4096") as small:
        big = encode_spans(llm_spans(5)).SerializeToString()
        assert len(big) > 4096
        response = requests.post(
            small.url + "/v1/traces",
            data=gzip.compress(big),
            timeout=5,
            headers={**PROTOBUF, "Content-Encoding": "gzip"},
        )
        assert response.status_code == 413
        bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
        response = requests.post(
            small.url + "/v1/traces", data=bomb, timeout=10, headers={**PROTOBUF, "Content-Encoding": "gzip"}
        )
        assert response.status_code == 413
        assert small.healthy()


@pytest.mark.slow
def test_grpc_max_message_size_is_explicit(tmp_path: Path) -> None:
    with run_server(tmp_path, "--max-body-bytes", "4096", grpc=True) as small:
        channel = grpc.insecure_channel(small.grpc_target)
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(encode_spans(llm_spans(5)), timeout=5)
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        channel.close()


# -- auth ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_auth_token_is_enforced_on_http_and_grpc(tmp_path: Path) -> None:
    token = "s3cret-token"
    with run_server(tmp_path, "--auth-token", token, "--source", SOURCE, grpc=True) as guarded:
        body = encode_spans(llm_spans(1)).SerializeToString()
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = requests.post(guarded.url + "/v1/traces", data=body, headers={**PROTOBUF, **headers}, timeout=5)
            assert response.status_code == 401
        channel = grpc.insecure_channel(guarded.grpc_target)
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(encode_spans(llm_spans(1)), metadata=metadata, timeout=5)
            assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
        stub.Export(encode_spans(llm_spans(1)), metadata=(("authorization", f"Bearer {token}"),), timeout=5)
        channel.close()
        ok = HttpSpanExporter(endpoint=guarded.url + "/v1/traces", headers={"Authorization": f"Bearer {token}"})
        spans = llm_spans(1)
        assert ok.export(spans) is SpanExportResult.SUCCESS
        assert stored_events(guarded, spans) == expected_events(spans)
        assert token not in guarded.stderr()


@pytest.mark.slow
def test_a_refused_token_is_told_alike_on_http_and_grpc_and_the_scheme_is_case_blind(tmp_path: Path) -> None:
    token = "s3cret-token"
    with run_server(tmp_path, "--auth-token", token, grpc=True) as guarded:
        refused = requests.post(guarded.url + "/v1/traces", data=b"", headers=PROTOBUF, timeout=5)
        http_text = status_pb2.Status.FromString(refused.content).message
        with grpc.insecure_channel(guarded.grpc_target) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(encode_spans(llm_spans(1)), timeout=5)
            assert err.value.details() == http_text == "missing or invalid bearer token"
            stub.Export(encode_spans(llm_spans(1)), metadata=(("authorization", f"bearer {token}"),), timeout=5)
        lower = requests.post(guarded.url + "/v1/traces", data=encode_spans(llm_spans(1)).SerializeToString(),
                              headers={**PROTOBUF, "Authorization": f"bearer {token}"}, timeout=5)
        assert lower.status_code == 200


def test_binds_localhost_by_default(server: RunningServer) -> None:
    assert "127.0.0.1" in server.stderr()
