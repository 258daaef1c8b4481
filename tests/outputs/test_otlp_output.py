"""`OtlpOutput` against real receivers on 127.0.0.1.

(a) A second `otel-honeyhive serve` is the OTLP receiver: event → span → OTLP (HTTP or gRPC) → span → event must
give back the very events that were sent, field by field. (b) Fake OTLP receivers (stdlib HTTP, in-process
grpcio) script the answers the shared retry policy must handle. (c) Updates re-send a remembered event.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_honeyhive import spans_to_events
from otel_honeyhive.core.results import DELIVERED, Outcome, Update
from otel_honeyhive.outputs.otlp import OtlpOutput, OtlpProtocol, cut_request, grpc_target, traces_url
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_otlp import FakeOtlpHttp, Reply, attribute, fake_otlp_http, low64, sample_session
from tests.support.server import RunningServer, free_port, run_server
from tests.support.spans import Recorder
from tests.support.waiting import wait_until

SOURCE = "otlp-output-test"
FAST = RetryPolicy(deadline=5.0, initial_backoff=0.02, max_backoff=0.1)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The bridge itself as an OTLP receiver; a short hold so a trace sent in parts is stored promptly."""
    with run_server(tmp_path_factory.mktemp("receiver"), "--source", SOURCE, "--hold-timeout", "0.3",
                    grpc=True) as server:
        yield server


@pytest.fixture
def fake() -> Iterator[FakeOtlpHttp]:
    with fake_otlp_http() as server:
        yield server


def output_to(receiver: RunningServer, protocol: OtlpProtocol, **kwargs: Any) -> OtlpOutput:
    endpoint = receiver.url if protocol == "http/protobuf" else receiver.grpc_target
    return OtlpOutput(endpoint, protocol=protocol, policy=FAST, **kwargs)


def stored(receiver: RunningServer, events: Sequence[dict[str, Any]], timeout: float = 10.0,
           until: Any = None) -> dict[str, dict[str, Any]]:
    """The receiver's copy of each event (by event id), once every one has arrived (and `until` holds)."""
    ids = [e["event_id"] for e in events]
    found: dict[str, dict[str, Any]] = {}

    def all_arrived() -> bool:
        nonlocal found
        with receiver.store() as store:
            found = {i: e for i in ids if (e := store.get_event(i)) is not None}
        return len(found) == len(ids) and (until is None or until(found))

    wait_until(all_arrived, timeout, explain=f"all {len(ids)} events stored",
               diagnose=lambda: f"{len(ids) - len(found)} of {len(ids)} events never arrived")
    return found


def differences(sent: Sequence[dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[str]:
    """Every field that did not survive, as `event_id.field: sent != got` (type included: 1 and 1.0 differ)."""
    out = []
    for event in sent:
        back = got[event["event_id"]]
        for key in sorted(set(event) | set(back)):
            a, b = event.get(key, "<missing>"), back.get(key, "<missing>")
            if a != b or type(a) is not type(b):
                out.append(f"{event['event_id']}.{key}: {a!r} != {b!r}")
    return out


# -- (a) the round trip through a real receiver ----------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "compression"), [
    ("http/protobuf", None), ("http/protobuf", "gzip"), ("grpc", None), ("grpc", "gzip"),
])
def test_events_come_back_from_a_real_receiver_exactly_as_sent(
    receiver: RunningServer, protocol: OtlpProtocol, compression: Any
) -> None:
    events = sample_session(SOURCE) + sample_session(SOURCE, t0=1_760_000_100_000)
    output = output_to(receiver, protocol, compression=compression)
    try:
        assert output.send(events) == DELIVERED
    finally:
        output.close()
    assert output.spans_sent == len(events)
    assert differences(events, stored(receiver, events)) == []


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_session_sent_one_event_at_a_time_comes_back_whole(
    receiver: RunningServer, protocol: OtlpProtocol
) -> None:
    """As `POST /events` sends them: children first, the session last (the receiver holds the parts)."""
    events = sample_session(SOURCE)
    output = output_to(receiver, protocol)
    try:
        for event in reversed(events):
            assert output.send([event]) == DELIVERED
    finally:
        output.close()
    assert differences(events, stored(receiver, events)) == []


def test_an_event_sent_after_its_parent_made_from_a_span_joins_the_parents_trace(fake: FakeOtlpHttp) -> None:
    """A session the bridge made from OpenTelemetry spans, then an event posted under one of them: in the
    backend, its span is in the spans' trace under its parent's span, not alone in a trace of its own."""
    recorder = Recorder(scope="tests.otlp-output")
    with recorder.tracer.start_as_current_span("agent"), recorder.tracer.start_as_current_span("step"):
        pass
    session, step = spans_to_events(recorder.spans())
    added = {"event_id": str(uuid.uuid4()), "session_id": session["session_id"], "parent_id": step["event_id"],
             "event_type": "tool", "event_name": "lookup", "inputs": {}}
    output = OtlpOutput(fake.url, policy=FAST)
    try:
        assert output.send([session, step]) == DELIVERED
        assert output.send([added]) == DELIVERED
    finally:
        output.close()
    spans = {s.name: s for s in fake.spans()}
    assert spans["lookup"].trace_id == spans["step"].trace_id == bytes.fromhex(step["metadata"]["trace_id"])
    assert spans["lookup"].parent_span_id == spans["step"].span_id


# -- (b) what the retry policy does with each answer (fake OTLP/HTTP receiver) ----------------------------------


def test_requests_are_otlp_http_protobuf_with_the_configured_headers(fake: FakeOtlpHttp) -> None:
    events = sample_session(SOURCE)
    output = OtlpOutput(fake.url + "/v1/traces/", headers={"x-api-key": "k-123"}, compression="gzip", policy=FAST)
    assert output.send(events) == DELIVERED
    (request,) = fake.requests
    assert request.path == "/v1/traces"  # the endpoint already named the path: not added twice
    assert request.headers["Content-Type"] == "application/x-protobuf"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["x-api-key"] == "k-123"
    assert request.headers["User-Agent"].startswith("otel-honeyhive/")
    spans = {s.span_id: s for s in request.spans()}
    assert set(spans) == {low64(e["event_id"]).to_bytes(8, "big") for e in events}


def test_503_then_200_is_retried(fake: FakeOtlpHttp) -> None:
    fake.then(Reply(503), Reply(503))
    output = OtlpOutput(fake.url, policy=FAST)
    assert output.send(sample_session(SOURCE)) == DELIVERED
    assert [r.status for r in fake.requests] == [503, 503, 200]
    assert fake.requests[0].body == fake.requests[2].body


@pytest.mark.slow  # waits out a Retry-After
def test_429_waits_as_long_as_retry_after_says(fake: FakeOtlpHttp) -> None:
    fake.then(Reply(429, {"Retry-After": "1"}))
    output = OtlpOutput(fake.url, policy=FAST)  # its own backoff would be 20 ms
    assert output.send(sample_session(SOURCE)) == DELIVERED
    first, second = fake.requests
    assert 0.9 <= second.at - first.at < 2.0


@pytest.mark.parametrize("status", [400, 401, 404, 422, 500])  # 413 splits: test_too_large.py
def test_other_errors_are_rejected_at_once_with_the_receivers_message(fake: FakeOtlpHttp, status: int) -> None:
    message = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="trace id is all zeros")
    fake.then(Reply(status, body=message.SerializeToString()))
    output = OtlpOutput(fake.url, headers={"Authorization": "Bearer sekrit-token"}, policy=FAST)
    result = output.send(sample_session(SOURCE))
    assert result.outcome is Outcome.REJECTED
    assert result.status == status
    assert "trace id is all zeros" in result.detail
    assert len(fake.requests) == 1
    assert "sekrit" not in result.detail + repr(output)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refusal_carries_the_receivers_retry_after(fake: FakeOtlpHttp, status: int) -> None:
    """The spool shipper waits that long before trying a configuration refusal again (within its cap)."""
    fake.then(Reply(status, {"Retry-After": "300"}))
    result = OtlpOutput(fake.url, policy=FAST).send(sample_session(SOURCE))
    assert (result.outcome, result.status, result.retry_after) == (Outcome.REJECTED, status, 300.0)


def test_partial_success_is_delivered_and_warned_about_and_counted(
    fake: FakeOtlpHttp, caplog: pytest.LogCaptureFixture
) -> None:
    answer = ExportTraceServiceResponse()
    answer.partial_success.rejected_spans = 2
    answer.partial_success.error_message = "span name too long"
    fake.then(Reply(200, body=answer.SerializeToString()))
    output = OtlpOutput(fake.url, headers={"Authorization": "Bearer sekrit-token"}, policy=FAST)
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive.outputs.otlp"):
        assert output.send(sample_session(SOURCE)) == DELIVERED
    assert output.spans_rejected_by_receiver == 2
    assert "rejected 2 of 4 spans: span name too long" in caplog.text
    assert "sekrit" not in caplog.text
    assert len(fake.requests) == 1  # retrying cannot change a partial success


def test_a_receiver_that_is_down_is_retry_later_within_the_deadline() -> None:
    output = OtlpOutput(f"http://127.0.0.1:{free_port()}", policy=RetryPolicy(deadline=0.5, initial_backoff=0.05))
    started = time.monotonic()
    result = output.send(sample_session(SOURCE))
    assert result.outcome is Outcome.RETRY_LATER
    assert "connection failed" in result.detail
    assert time.monotonic() - started < 1.5


def test_stop_cuts_a_backoff_short(fake: FakeOtlpHttp) -> None:
    fake.then(Reply(503, {"Retry-After": "5"}))
    output = OtlpOutput(fake.url, policy=RetryPolicy(deadline=10))
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    result = output.send(sample_session(SOURCE), stop=stop)
    assert result.outcome is Outcome.RETRY_LATER
    assert time.monotonic() - started < 1.5


def test_an_event_that_cannot_be_a_span_is_rejected_and_the_others_still_go(fake: FakeOtlpHttp) -> None:
    events = sample_session(SOURCE)
    bad = {**events[3], "event_id": "not-a-uuid", "session_id": "nor-this"}
    output = OtlpOutput(fake.url, policy=FAST)
    result = output.send([*events, bad])
    assert result.outcome is Outcome.REJECTED
    assert "1 of 5 events cannot be sent as OTLP spans" in result.detail
    assert "'not-a-uuid'" in result.detail
    assert len(fake.spans()) == 4
    assert output.events_not_convertible == 1


def test_large_batches_are_split_into_requests_under_the_limit(fake: FakeOtlpHttp) -> None:
    events = [e for _ in range(5) for e in sample_session(SOURCE)]
    output = OtlpOutput(fake.url, policy=FAST, max_request_bytes=8_000)
    assert output.send(events) == DELIVERED
    assert len(fake.requests) > 1
    assert all(len(r.body) <= 8_000 for r in fake.requests)
    assert sorted(s.span_id for s in fake.spans()) == sorted(
        low64(e["event_id"]).to_bytes(8, "big") for e in events
    )


def test_endpoints() -> None:
    assert traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert traces_url("http://c:4318/otlp/") == "http://c:4318/otlp/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"
    assert traces_url("https://c/otlp?key=1") == "https://c/otlp/v1/traces?key=1"
    assert grpc_target("c:4317", insecure=True) == ("c:4317", False)
    assert grpc_target("c:4317", insecure=False) == ("c:4317", True)
    assert grpc_target("https://c:4317/", insecure=True) == ("c:4317", True)
    assert grpc_target("http://c:4317", insecure=False) == ("c:4317", False)
    output = OtlpOutput("https://user:pw@c:4318/?token=abc", headers={"x": "secret"})
    assert "pw" not in repr(output) and "abc" not in repr(output) and "secret" not in repr(output)


# -- (b) the same over gRPC (an in-process grpcio receiver) ------------------------------------------------------


@dataclass
class GrpcAnswer:
    code: grpc.StatusCode = grpc.StatusCode.OK
    trailing: tuple[tuple[str, Any], ...] = ()
    partial: tuple[int, str] = (0, "")


@dataclass
class FakeOtlpGrpc:
    target: str
    script: list[GrpcAnswer]
    calls: list[tuple[float, dict[str, Any], ExportTraceServiceRequest]] = field(default_factory=list)


@contextmanager
def fake_otlp_grpc(*script: GrpcAnswer) -> Iterator[FakeOtlpGrpc]:
    state = FakeOtlpGrpc("", list(script))

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
            state.calls.append((time.monotonic(), dict(context.invocation_metadata()), request))
            answer = state.script.pop(0) if state.script else GrpcAnswer()
            if answer.code is not grpc.StatusCode.OK:
                context.set_trailing_metadata(answer.trailing)
                context.abort(answer.code, f"scripted {answer.code.name}")
            response = ExportTraceServiceResponse()
            response.partial_success.rejected_spans, response.partial_success.error_message = answer.partial
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    state.target = f"127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.stop(grace=None)


def retry_info(seconds: float) -> bytes:
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=int(seconds * 1e9)))
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="slow down")
    status.details.add().Pack(info)
    return bytes(status.SerializeToString())


@pytest.mark.slow  # waits out a Retry-After
def test_grpc_unavailable_is_retried_after_the_retry_after_hint() -> None:
    hint = GrpcAnswer(grpc.StatusCode.UNAVAILABLE, (("retry-after", "1"),))
    with fake_otlp_grpc(hint) as fake:
        output = OtlpOutput(fake.target, protocol="grpc", headers={"X-Team": "t-1"}, policy=FAST)
        assert output.send(sample_session(SOURCE)) == DELIVERED
        output.close()
    (first, metadata, request), (second, _, again) = fake.calls
    assert 0.9 <= second - first < 2.0
    assert request == again
    assert metadata["x-team"] == "t-1"  # gRPC metadata keys are lowercase


def test_grpc_resource_exhausted_honours_retry_info() -> None:
    slow = RetryPolicy(deadline=5.0, initial_backoff=3.0, max_backoff=3.0)  # only the hint explains a short wait
    hint = GrpcAnswer(grpc.StatusCode.RESOURCE_EXHAUSTED, (("grpc-status-details-bin", retry_info(0.3)),))
    with fake_otlp_grpc(hint) as fake:
        output = OtlpOutput(fake.target, protocol="grpc", policy=slow)
        assert output.send(sample_session(SOURCE)) == DELIVERED
        output.close()
    (first, _, _), (second, _, _) = fake.calls
    assert 0.25 <= second - first < 1.5


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED,
                                  grpc.StatusCode.INTERNAL])
def test_grpc_other_codes_are_rejected_at_once(code: grpc.StatusCode) -> None:
    with fake_otlp_grpc(GrpcAnswer(code)) as fake:
        output = OtlpOutput(fake.target, protocol="grpc", policy=FAST)
        result = output.send(sample_session(SOURCE))
        output.close()
    assert result.outcome is Outcome.REJECTED
    assert code.name in result.detail and f"scripted {code.name}" in result.detail
    assert len(fake.calls) == 1


def test_grpc_partial_success_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    with fake_otlp_grpc(GrpcAnswer(partial=(1, "bad attribute"))) as fake:
        output = OtlpOutput(fake.target, protocol="grpc", policy=FAST)
        with caplog.at_level(logging.WARNING, logger="otel_honeyhive.outputs.otlp"):
            assert output.send(sample_session(SOURCE)) == DELIVERED
        output.close()
    assert output.spans_rejected_by_receiver == 1
    assert "rejected 1 of 4 spans: bad attribute" in caplog.text


# -- (c) updates -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_an_update_of_a_sent_event_replaces_it_at_the_receiver(
    receiver: RunningServer, protocol: OtlpProtocol
) -> None:
    events = sample_session(SOURCE)
    model = events[2]
    fields = {"metadata": {"judge": "ok"}, "outputs": {"role": "assistant", "content": "four"},
              "feedback": {"rating": 1}, "end_time": model["start_time"] + 900}
    output = output_to(receiver, protocol)
    try:
        assert output.send(events) == DELIVERED
        stored(receiver, events)
        assert output.update(Update(model["event_id"], fields)) == DELIVERED
    finally:
        output.close()
    expected = [*events[:2], Update(model["event_id"], fields).apply_to(model), events[3]]
    assert expected[2]["duration"] == 900 and expected[2]["metadata"]["prompt_tokens"] == 12
    got = stored(receiver, expected, until=lambda found: "judge" in found[model["event_id"]]["metadata"])
    assert differences(expected, got) == []


def test_an_update_of_an_unknown_event_is_refused_as_not_found(fake: FakeOtlpHttp) -> None:
    output = OtlpOutput(fake.url, policy=FAST)
    unknown = str(uuid.uuid4())
    result = output.update(Update(unknown, {"metadata": {"a": 1}}))
    assert result.outcome is Outcome.REJECTED
    assert result.status == 404
    assert result.detail == (
        f"event {unknown} is not known to this bridge; OTLP spans cannot be updated after export"
    )
    assert fake.requests == []


def test_the_update_memory_is_bounded_and_updates_keep_the_span_ids(fake: FakeOtlpHttp) -> None:
    events = sample_session(SOURCE)
    assert [e["event_type"] for e in events] == ["session", "chain", "model", "tool"]
    output = OtlpOutput(fake.url, policy=FAST, remember_events=2)
    for event in events:
        assert output.send([event]) == DELIVERED
    assert output.update(Update(events[1]["event_id"], {"metadata": {"x": 1}})).status == 404  # forgotten
    assert output.update(Update(events[3]["event_id"], {"outputs": {"hits": 0}})) == DELIVERED
    before, after = fake.requests[3].spans()[0], fake.requests[4].spans()[0]
    assert (after.trace_id, after.span_id, after.parent_span_id) == (
        before.trace_id, before.span_id, before.parent_span_id
    )
    assert attribute(after, "honeyhive_outputs") == '{"hits":0}'
    assert after.status.message == "search backend timed out"


def test_session_events_are_remembered_apart_so_a_late_update_finds_its_session(fake: FakeOtlpHttp) -> None:
    """A conversation's later turn extends its session minutes on, after a busy sidecar sent many more events
    than the general memory keeps: the session is still known. Its own memory is bounded too."""
    events = sample_session(SOURCE)
    session, children = events[0], events[1:]
    output = OtlpOutput(fake.url, policy=FAST, remember_events=2, remember_sessions=1)
    assert output.send(events) == DELIVERED
    for _ in range(3):  # more child events than the general memory keeps
        assert output.send(children) == DELIVERED
    assert output.update(Update(session["event_id"], {"end_time": session["end_time"] + 60_000})) == DELIVERED
    assert attribute(fake.requests[-1].spans()[0], "honeyhive_event_type") == "session"
    other_id = str(uuid.uuid4())
    other = {**session, "event_id": other_id, "session_id": other_id}
    assert output.send([other]) == DELIVERED  # a second session: the first one is forgotten
    assert output.update(Update(session["event_id"], {"metadata": {"x": 1}})).status == 404
    output.close()


def test_a_closed_output_keeps_the_data_for_later(fake: FakeOtlpHttp) -> None:
    output = OtlpOutput(fake.url, policy=FAST)
    output.close()
    output.close()
    assert output.send(sample_session(SOURCE)).outcome is Outcome.RETRY_LATER


def test_the_difference_helper_is_strict() -> None:
    """`differences` itself: a type change (1 → 1.0) or a missing field is reported, not forgiven."""
    sent = [{"event_id": "e", "a": 1, "b": None}]
    assert differences(sent, {"e": {"event_id": "e", "a": 1.0}}) == [
        "e.a: 1 != 1.0", "e.b: None != '<missing>'",
    ]


@pytest.mark.parametrize("char", ["y", "é", "日"])
def test_a_span_too_large_for_the_receiver_is_cut_by_bytes_in_any_script(char: str) -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "chat"
    prompt = span.attributes.add()
    prompt.key, prompt.value.string_value = "gen_ai.prompt", char * 100_000
    budget = 50_000
    cut = cut_request(request, budget)
    assert cut is not None and cut.ByteSize() <= budget
    (kept,) = [kv.value.string_value for s in (cut.resource_spans[0].scope_spans[0].spans[0],)
               for kv in s.attributes if kv.key == "gen_ai.prompt"]
    assert len(kept.split("…[truncated ")[0].encode()) > budget // 2, "most of the budget is kept"
