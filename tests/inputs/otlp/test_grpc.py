"""The OTLP/gRPC receiver's edges, on a real grpcio server on a loopback port, called by a real grpcio client: what
a client is told when too many calls come at once or a message is too large, and what `requests_total` counts."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_honeyhive.core.counters import REQUESTS, Counters
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import DELIVERED, SendResult, Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.inputs.otlp.grpc import MAX_IN_FLIGHT, SERVICE_NAME, start_grpc_server
from tests.support.spans import llm_traces
from tests.support.waiting import wait_until

EXPORT = f"/{SERVICE_NAME}/Export"


@dataclass
class GatedSink:
    """Takes spans only once `gate` is set (an output that is slow to answer), counting the calls inside."""

    gate: threading.Event = field(default_factory=threading.Event)
    inside: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def output_name(self) -> str:
        return "gated"

    def accept_spans(self, spans: Sequence[SpanView]) -> SendResult:
        with self.lock:
            self.inside += 1
        self.gate.wait(30)
        return DELIVERED

    def accept_events(self, events: list[Event]) -> SendResult:
        raise AssertionError("no events expected")

    def accept_update(self, update: Update) -> SendResult:
        raise AssertionError("no update expected")

    def accept_records(self, records: Sequence[LogRecordView]) -> SendResult:
        return DELIVERED


def statuses(counters: Counters) -> dict[str, float]:
    return {s.labels["status"]: s.value for s in counters.samples(REQUESTS) if s.labels["input"] == "otlp_grpc"}


@pytest.fixture
def served() -> Iterator[tuple[str, GatedSink, Counters]]:
    sink, counters = GatedSink(), Counters()
    server, port = start_grpc_server(sink, "127.0.0.1", 0, max_message_bytes=64 * 1024, counters=counters)
    try:
        yield f"127.0.0.1:{port}", sink, counters
    finally:
        sink.gate.set()
        server.stop(None)


def test_calls_past_the_in_flight_limit_are_told_to_retry_never_refused_for_good(
    served: tuple[str, GatedSink, Counters],
) -> None:
    """grpcio's own cap answered RESOURCE_EXHAUSTED without a retry hint, which the Collector's exporter drops as
    permanent; past the limit a call is UNAVAILABLE with `retry-after`, as OTLP/HTTP answers 503."""
    target, sink, counters = served
    body = encode_spans(llm_traces(1)).SerializeToString()
    extra = 6
    with grpc.insecure_channel(target) as channel, futures.ThreadPoolExecutor(MAX_IN_FLIGHT + extra) as pool:
        export = channel.unary_unary(EXPORT)

        def call() -> str:
            try:
                export(body, timeout=30)
                return "OK"
            except grpc.RpcError as err:
                hint = dict(err.trailing_metadata() or ()).get("retry-after")
                return f"{err.code().name} retry-after={hint}"

        calls = [pool.submit(call) for _ in range(MAX_IN_FLIGHT + extra)]
        wait_until(lambda: sum(c.done() for c in calls) >= extra, 20, explain=f"{extra} calls refused at once",
                   diagnose=lambda: f"{sink.inside} calls inside the sink")
        sink.gate.set()
        answers = [c.result(30) for c in calls]
    assert sorted(set(answers)) == ["OK", "UNAVAILABLE retry-after=1"], answers
    assert answers.count("OK") == MAX_IN_FLIGHT and sink.inside == MAX_IN_FLIGHT
    assert statuses(counters) == {"OK": MAX_IN_FLIGHT, "UNAVAILABLE": extra}


def test_a_message_over_the_limit_is_refused_by_grpcio_and_still_counted(
    served: tuple[str, GatedSink, Counters],
) -> None:
    target, sink, counters = served
    sink.gate.set()
    options = [("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(target, options=options) as channel:
        export = channel.unary_unary(EXPORT)
        for _ in range(3):
            for body, compression in ((b"\x0a" + b"\0" * 100_000, None), (b"\0" * 1_000_000, grpc.Compression.Gzip)):
                with pytest.raises(grpc.RpcError) as err:
                    export(body, timeout=10, compression=compression)
                assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        export(encode_spans(llm_traces(1)).SerializeToString(), timeout=10)
    wait_until(lambda: statuses(counters) == {"RESOURCE_EXHAUSTED": 6, "OK": 1}, 10,
               explain="six refusals and one export counted", diagnose=lambda: str(statuses(counters)))


def test_a_call_carrying_no_message_is_invalid_argument(served: tuple[str, GatedSink, Counters]) -> None:
    target, _, counters = served
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as err:
        channel.stream_unary(EXPORT)(iter(()), timeout=10)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "no request message" in err.value.details()
    assert statuses(counters) == {"INVALID_ARGUMENT": 1}


def test_a_gzip_message_within_the_limit_is_taken(served: tuple[str, GatedSink, Counters]) -> None:
    target, sink, counters = served
    sink.gate.set()
    body = encode_spans(llm_traces(2)).SerializeToString()
    assert len(gzip.compress(body)) < len(body) <= 64 * 1024
    with grpc.insecure_channel(target) as channel:
        channel.unary_unary(EXPORT)(body, timeout=10, compression=grpc.Compression.Gzip)
    assert sink.inside == 1 and statuses(counters) == {"OK": 1}
