"""`GET /metrics`: the server's own counters in the Prometheus text format, read with Prometheus's own parser.

Each test drives a real server through one situation and reads the counters that must tell it: requests by
input and status, spans received and rejected, events mapped, spooled, delivered, retried, dead-lettered,
spans dropped (with the reason), bytes and records waiting in each spool, spans held.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import orjson
import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client.parser import text_string_to_metric_families

from otel_honeyhive.core.counters import Counters, Sample
from otel_honeyhive.server.prometheus import Family, render
from tests.support.fake_honeyhive import Reply, fake_honeyhive
from tests.support.fake_otlp import Reply as OtlpReply
from tests.support.fake_otlp import fake_otlp_http
from tests.support.metrics import Samples, scrape, value
from tests.support.server import RunningServer, run_server
from tests.support.spans import llm_traces
from tests.support.waiting import wait_until

TOKEN = "metrics-token"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
FAMILIES = {
    "otel_honeyhive_build_info": "gauge",
    "otel_honeyhive_requests": "counter",
    "otel_honeyhive_host_refusals": "counter",
    "otel_honeyhive_spans_received": "counter",
    "otel_honeyhive_spans_rejected": "counter",
    "otel_honeyhive_spans_dropped": "counter",
    "otel_honeyhive_spans_filtered": "counter",
    "otel_honeyhive_log_records_received": "counter",
    "otel_honeyhive_log_records_joined": "counter",
    "otel_honeyhive_log_records_late": "counter",
    "otel_honeyhive_log_records_unmatched": "counter",
    "otel_honeyhive_log_records_ignored": "counter",
    "otel_honeyhive_log_records_rejected": "counter",
    "otel_honeyhive_conversation_sessions_started": "counter",
    "otel_honeyhive_conversation_turns": "counter",
    "otel_honeyhive_events_received": "counter",
    "otel_honeyhive_events_mapped": "counter",
    "otel_honeyhive_events_spooled": "counter",
    "otel_honeyhive_events_delivered": "counter",
    "otel_honeyhive_events_undelivered": "counter",
    "otel_honeyhive_delivery_retries": "counter",
    "otel_honeyhive_delivery_config_refusals": "counter",
    "otel_honeyhive_events_dead_lettered": "counter",
    "otel_honeyhive_spool_corrupt_records": "counter",
    "otel_honeyhive_held_spans": "gauge",
    "otel_honeyhive_spool_bytes": "gauge",
    "otel_honeyhive_spool_records": "gauge",
    "otel_honeyhive_spool_capacity_bytes": "gauge",
}


def post(server: RunningServer, body: bytes, token: str | None = TOKEN) -> requests.Response:
    headers = {**PROTOBUF, **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.post(server.url + "/v1/traces", data=body, headers=headers, timeout=10)


def with_one_invalid_span(n_traces: int) -> bytes:
    request = encode_spans(llm_traces(n_traces, name="m"))
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x00" * 8  # unusable: rejected alone
    data: bytes = request.SerializeToString()
    return data


# -- the exposition ------------------------------------------------------------------------------------------------


def test_the_exposition_is_what_prometheus_parses() -> None:
    counters = Counters()
    counters.add("x_requests_total", 2, input="otlp_http", status="200")
    counters.add("x_requests_total", input='we"ird\\path\n', status="404")
    text = render([
        Family("x_requests_total", "counter", "Requests.\nBy input and \\status.",
               counters.samples("x_requests_total")),
        Family("x_held", "gauge", "Held.", [Sample({}, 3)]),
        Family("x_ratio", "gauge", "A fraction.", [Sample({}, 0.25)]),
        Family("x_empty_total", "counter", "Nothing yet.", []),
    ])
    assert "# TYPE x_held gauge\nx_held 3\n" in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["x_requests"].documentation == "Requests.\nBy input and \\status."
    samples = {tuple(sorted(s.labels.items())): s.value for s in families["x_requests"].samples}
    assert samples == {(("input", "otlp_http"), ("status", "200")): 2,
                       (("input", 'we"ird\\path\n'), ("status", "404")): 1}
    assert families["x_ratio"].samples[0].value == 0.25
    assert families["x_empty"].samples == []


def test_names_prometheus_would_refuse_are_refused_here() -> None:
    with pytest.raises(ValueError, match="metric name"):
        Family("2bad", "gauge", "", [])
    with pytest.raises(ValueError, match="label name"):
        Family("ok", "gauge", "", [Sample({"bad-label": "x"}, 1)])
    with pytest.raises(ValueError, match="only goes up"):
        Counters().add("c_total", -1)


# -- a server with the local store, behind a token -----------------------------------------------------------------


@pytest.mark.slow
def test_metrics_need_the_token_like_every_route_but_healthz(tmp_path: Path) -> None:
    with run_server(tmp_path, "--auth-token", TOKEN) as server:
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
        assert requests.get(server.url + "/metrics", timeout=5).status_code == 401
        metrics = scrape(server, TOKEN)
        assert value(metrics, "otel_honeyhive_requests_total", {"input": "metrics", "status": "401"}) == 1


@pytest.mark.slow
def test_every_family_is_there_with_its_type_and_help(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        response = requests.get(server.url + "/metrics", timeout=5)
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {name: f.type for name, f in families.items()} == FAMILIES
    assert all(f.documentation for f in families.values())


@pytest.mark.slow
def test_requests_spans_and_events_are_counted_by_input(tmp_path: Path) -> None:
    with run_server(tmp_path, "--auth-token", TOKEN, "--hold-timeout", "60", grpc=True) as server:
        assert post(server, with_one_invalid_span(3)).status_code == 200  # 15 spans, 1 rejected
        assert post(server, b"garbage").status_code == 400
        assert post(server, b"", token="wrong").status_code == 401
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
            auth = (("authorization", f"Bearer {TOKEN}"),)
            stub.Export(encode_spans(llm_traces(2, name="g")), metadata=auth, timeout=10)
            with pytest.raises(grpc.RpcError):
                stub.Export(encode_spans(llm_traces(1, name="g")), timeout=10)
            request = encode_spans(llm_traces(1, name="g"))
            request.resource_spans[0].scope_spans[0].spans[1].trace_id = b"\x01"  # rejected alone
            stub.Export(request, metadata=auth, timeout=10)
        children = [s for s in llm_traces(1, name="held") if s.parent is not None]
        assert post(server, encode_spans(children).SerializeToString()).status_code == 200  # held: no root yet
        event = {"event": {"event_type": "tool", "inputs": {}}}
        assert requests.post(server.url + "/events", data=orjson.dumps(event), timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
                             ).status_code == 200
        batch = {"events": [{"event_type": "tool", "event_name": "v1", "inputs": {}}]}  # HoneyHive's current route
        assert requests.post(server.url + "/v1/events/batch", data=orjson.dumps(batch), timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
                             ).status_code == 200
        to_session = f"/v1/sessions/{uuid.uuid4()}/events/batch"  # an id in the path, still the same input
        assert requests.post(server.url + to_session, data=orjson.dumps(batch), timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
                             ).status_code == 200
        assert requests.post(server.url + "/v1/events", data=orjson.dumps(batch["events"][0]), timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
                             ).status_code == 200
        assert requests.put(f"{server.url}/v1/events/{uuid.uuid4()}", data=b'{"metadata": {}}', timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
                            ).status_code == 404  # an unknown event: a request counted, no event
        metrics: Samples = scrape(server, TOKEN)

    def requests_(input_: str, status: str) -> float:
        return value(metrics, "otel_honeyhive_requests_total", {"input": input_, "status": status})

    assert requests_("otlp_http", "200") == 2 and requests_("otlp_http", "400") == 1
    assert requests_("otlp_http", "401") == 1
    assert requests_("otlp_grpc", "OK") == 2 and requests_("otlp_grpc", "UNAUTHENTICATED") == 1
    assert requests_("honeyhive_api", "200") == 4 and requests_("other", "200") == 0
    assert requests_("honeyhive_api", "404") == 1 and requests_("other", "404") == 0
    assert value(metrics, "otel_honeyhive_spans_received_total") == 14 + 10 + 4 + 4
    assert value(metrics, "otel_honeyhive_spans_rejected_total", {"input": "otlp_http"}) == 1
    assert value(metrics, "otel_honeyhive_spans_rejected_total", {"input": "otlp_grpc"}) == 1
    assert value(metrics, "otel_honeyhive_held_spans") == 4
    assert value(metrics, "otel_honeyhive_events_received_total") == 4
    mapped = value(metrics, "otel_honeyhive_events_mapped_total")
    assert mapped == 14 + 10 + 4  # whatever the invalid span's siblings became, none lost
    assert value(metrics, "otel_honeyhive_events_delivered_total") == mapped + 4  # the store took them all
    assert value(metrics, "otel_honeyhive_spans_dropped_total", {"reason": "delivery_failed"}) == 0


# -- forwarding to HoneyHive ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_spooled_forwarding_shows_bytes_waiting_retries_dead_letters_and_deliveries(tmp_path: Path) -> None:
    with fake_honeyhive() as honeyhive:
        honeyhive.default = Reply(503)
        with run_server(tmp_path, "--api-key", "k", "--server-url", honeyhive.url, "--spool-dir",
                        str(tmp_path / "spool"), env={"HH_TIMEOUT": "0.3"}) as server:
            assert post(server, encode_spans(llm_traces(4)).SerializeToString(), token=None).status_code == 200
            wait_until(lambda: value(scrape(server), "otel_honeyhive_delivery_retries_total") >= 1, 30,
                       explain="a delivery retry counted", diagnose=server.stderr)
            waiting = scrape(server)
            assert value(waiting, "otel_honeyhive_events_spooled_total") == 20
            assert value(waiting, "otel_honeyhive_events_delivered_total") == 0
            assert value(waiting, "otel_honeyhive_spool_records", {"spool": "outbox"}) == 1
            assert value(waiting, "otel_honeyhive_spool_bytes", {"spool": "outbox"}) > 1000
            assert value(waiting, "otel_honeyhive_spool_capacity_bytes", {"spool": "outbox"}) == 2**30
            assert value(waiting, "otel_honeyhive_spool_records", {"spool": "held"}) == 0

            honeyhive.default = Reply(400, body=b'{"error": "refused"}')  # refused for good: dead-lettered
            wait_until(lambda: value(scrape(server), "otel_honeyhive_events_dead_lettered_total") == 20, 30,
                       explain="the 20 refused events counted as dead-lettered", diagnose=server.stderr)
            honeyhive.default = Reply(200)
            assert post(server, encode_spans(llm_traces(2)).SerializeToString(), token=None).status_code == 200
            wait_until(lambda: value(scrape(server), "otel_honeyhive_events_delivered_total") == 10, 30,
                       explain="the 10 later events counted as delivered", diagnose=server.stderr)
            done = scrape(server)
    assert value(done, "otel_honeyhive_spool_records", {"spool": "outbox"}) == 0
    assert value(done, "otel_honeyhive_spool_bytes", {"spool": "outbox"}) == 0


@pytest.mark.slow
def test_spans_lost_without_a_spool_are_counted_as_dropped(tmp_path: Path) -> None:
    """Without --spool-dir, held spans live in memory: when HoneyHive is down as the hold expires, they are gone,
    and the counter says how many."""
    with fake_honeyhive() as honeyhive:
        honeyhive.default = Reply(503)
        with run_server(tmp_path, "--api-key", "k", "--server-url", honeyhive.url, "--hold-timeout", "0.2",
                        env={"HH_TIMEOUT": "0.3"}) as server:
            children = [s for s in llm_traces(2, name="lost") if s.parent is not None]
            assert post(server, encode_spans(children).SerializeToString(), token=None).status_code == 200
            wait_until(lambda: value(scrape(server), "otel_honeyhive_spans_dropped_total",
                                     {"reason": "delivery_failed"}) == len(children), 30,
                       explain="the held children counted as dropped", diagnose=server.stderr)
            metrics = scrape(server)
    assert value(metrics, "otel_honeyhive_events_undelivered_total") == len(children)
    assert value(metrics, "otel_honeyhive_held_spans") == 0


@pytest.mark.slow
def test_spans_an_otlp_endpoint_rejects_in_partial_success_are_counted(tmp_path: Path) -> None:
    """Forwarding to an OTLP endpoint (the reverse direction), a 200 whose `partial_success` rejects spans is as
    far as retrying can go: the server logs the endpoint's message and counts the spans, for an alert."""
    answer = ExportTraceServiceResponse()
    answer.partial_success.rejected_spans = 2
    answer.partial_success.error_message = "span name too long"
    with fake_otlp_http() as fake:
        fake.default = OtlpReply(200, body=answer.SerializeToString())
        with run_server(tmp_path, "--otlp-endpoint", fake.url, "--hold-timeout", "0.2") as server:
            assert post(server, encode_spans(llm_traces(1)).SerializeToString()).status_code == 200
            wait_until(lambda: fake.requests, 10, explain="the spans forwarded", diagnose=server.stderr)
            metrics = scrape(server)
            stderr = server.stderr()
    assert value(metrics, "otel_honeyhive_output_spans_rejected_total") == 2
    assert "rejected 2 of" in stderr and "span name too long" in stderr


def test_the_rejections_counter_is_only_there_for_an_otlp_output(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        assert "otel_honeyhive_output_spans_rejected_total" not in requests.get(server.url + "/metrics",
                                                                                 timeout=5).text
