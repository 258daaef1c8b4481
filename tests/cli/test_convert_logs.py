"""`convert --logs` and `replay --logs`: the GenAI log records of the same traffic (the Collector `file` exporter's
logs file, in every framing it writes) are joined to their spans' events as `serve` joins those sent to /v1/logs:
the events equal what a real `serve` stores for the same spans and records sent over OTLP, whatever order the
logs requests come in; records after their span's event, or whose span never comes, are updates; bad logs files
stop with one line naming the file and the line or entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_honeyhive.cli.main import main
from otel_honeyhive.core.results import Update
from otel_honeyhive.mapper.identity import session_id_for_trace
from otel_honeyhive.mapper.log_records import record_summary
from otel_honeyhive.pipeline.joining import UNMATCHED_KEY
from tests.support.collector_files import (
    VARIANTS,
    collector_logs_file,
    framed,
    logs_json_message,
    logs_proto_message,
    write_collector_file,
    write_collector_logs_file,
    write_jsonl,
)
from tests.support.event_files import assert_same_events, read_ndjson
from tests.support.fake_honeyhive import FakeHoneyHive
from tests.support.logs_traffic import SOURCE, Traffic, by_id, traffic
from tests.support.server import start_server


@pytest.fixture(scope="module")
def calls() -> Traffic:
    return traffic()


def convert(tmp_path: Path, traces: Path, *logs: Path, out: str = "out.ndjson") -> list[dict[str, Any]]:
    argv = ["convert", "--quiet", "--source", SOURCE, str(traces), str(tmp_path / out)]
    for path in logs:
        argv += ["--logs", str(path)]
    assert main(argv) == 0
    return read_ndjson(tmp_path / out)


def logs_jsonl(path: Path, batches: list[list[ReadableLogRecord]]) -> Path:
    path.write_bytes(b"".join(logs_json_message(b) + b"\n" for b in batches))
    return path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("variant", ("json", *VARIANTS))
def test_convert_joins_the_records_of_a_logs_file_to_their_spans_events(
    tmp_path: Path, calls: Traffic, variant: str
) -> None:
    if variant == "json":
        traces = write_jsonl(tmp_path / "traces.otlp.jsonl", calls.requests)
        logs = logs_jsonl(tmp_path / "logs.otlp.jsonl", [[r] for r in calls.details])
    else:
        traces = write_collector_file(tmp_path, calls.requests, variant)
        logs = write_collector_logs_file(tmp_path, [[r] for r in calls.details], variant)
    assert_same_events(convert(tmp_path, traces, logs), calls.with_content_on_the_spans())


def test_without_logs_the_content_is_missing_which_is_what_logs_fixes(tmp_path: Path, calls: Traffic) -> None:
    traces = write_jsonl(tmp_path / "traces.otlp.jsonl", calls.requests)
    events = by_id(convert(tmp_path, traces))
    expected = by_id(calls.with_content_on_the_spans())
    assert any(events[i].get("outputs") != expected[i].get("outputs") for i in expected)


@pytest.mark.parametrize("batching", ["one request after all the spans", "a request per record",
                                      "two files", "the traces in one request"])
def test_records_join_however_the_logs_and_traces_requests_are_cut(
    tmp_path: Path, calls: Traffic, batching: str
) -> None:
    """A logs request is handed on by the time of its earliest record: one request holding every record (written
    after every span) joins as well as one per record, and several files as one."""
    requests = [calls.spans] if batching == "the traces in one request" else calls.requests
    traces = write_jsonl(tmp_path / "traces.otlp.jsonl", requests)
    if batching == "one request after all the spans":
        logs = [logs_jsonl(tmp_path / "logs.otlp.jsonl", [calls.details])]
    elif batching == "two files":
        logs = [logs_jsonl(tmp_path / "a.otlp.jsonl", [calls.details[:1]]),
                logs_jsonl(tmp_path / "b.otlp.jsonl", [[r] for r in calls.details[1:]])]
    else:
        logs = [logs_jsonl(tmp_path / "logs.otlp.jsonl", [[r] for r in calls.details])]
    assert_same_events(convert(tmp_path, traces, *logs), calls.with_content_on_the_spans())


@pytest.mark.slow
def test_convert_gives_what_serve_stores_for_the_same_spans_and_records_sent_over_otlp(
    tmp_path: Path, calls: Traffic
) -> None:
    """Records before their spans (joined), evaluations after them (updates of the shipped events) and a record
    whose span never comes (kept on its session at the end): `serve` is sent them in that order, the files
    hold them as the Collector wrote them; the events are the same, each once in the file."""
    (tmp_path / "serve").mkdir()
    server = start_server(tmp_path / "serve", "--source", SOURCE)
    try:
        spans = OTLPSpanExporter(endpoint=server.url + "/v1/traces")
        logs = OTLPLogExporter(endpoint=server.url + "/v1/logs")
        assert logs.export(calls.details) is LogRecordExportResult.SUCCESS
        for request in calls.requests:
            assert spans.export(request) is SpanExportResult.SUCCESS
        assert logs.export(calls.evaluations) is LogRecordExportResult.SUCCESS
        assert logs.export(calls.stray) is LogRecordExportResult.SUCCESS
        spans.shutdown()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
        logs.shutdown()  # type: ignore[no-untyped-call]
    finally:
        assert server.stop() == 0, server.stderr()
    with server.store() as store:
        stored = [e for request in calls.requests for e in store.session_events(
            session_id_for_trace(request[0].context.trace_id), children=False)]

    traces = write_collector_file(tmp_path, calls.requests, "proto")
    logs_file = tmp_path / "logs.otlp.binpb"
    logs_file.write_bytes(collector_logs_file([calls.details, calls.evaluations, calls.stray], "proto"))
    converted = convert(tmp_path, traces, logs_file)
    assert len(converted) == len(by_id(converted)), "each event once"
    assert_same_events(converted, stored)
    session = by_id(converted)[session_id_for_trace(calls.requests[0][0].context.trace_id)]
    from otel_honeyhive.inputs.otlp.logs import decode_logs_protobuf

    (stray,) = decode_logs_protobuf(logs_proto_message(calls.stray)).records
    assert session["metadata"][UNMATCHED_KEY] == [json.loads(json.dumps(record_summary(stray)))]


def test_replay_ships_the_joined_events_and_sends_the_updates_after_them(
    tmp_path: Path, calls: Traffic, honeyhive: FakeHoneyHive
) -> None:
    traces = write_collector_file(tmp_path, calls.requests, "json-zstd-messages")
    logs = write_collector_logs_file(tmp_path, [calls.details, calls.evaluations, calls.stray],
                                     "json-zstd-messages")
    expected = convert(tmp_path, traces, logs)
    assert main(["replay", str(traces), "--logs", str(logs), "--to", "honeyhive", "--server-url", honeyhive.url,
                 "--api-key", "k", "--source", SOURCE, "--quiet"]) == 0
    events = by_id(honeyhive.events)
    puts = [r for r in honeyhive.requests if r.method == "PUT"]
    assert puts, "the evaluations and the stray record are updates"
    for put in puts:
        body = put.body
        update = Update(body["event_id"], {k: v for k, v in body.items() if k != "event_id"})
        assert update.event_id in events, "an update goes after its event"
        events[update.event_id] = update.apply_to(events[update.event_id])
    assert_same_events(list(events.values()), expected)
    state = json.loads((tmp_path / (traces.name + ".replay-state.json")).read_text())
    assert state["complete"] and any(o.startswith("--logs ") for o in state["options"])
    assert main(["replay", str(traces), "--logs", str(logs), "--to", "honeyhive", "--server-url", honeyhive.url,
                 "--api-key", "k", "--source", SOURCE, "--quiet"]) == 0
    assert len(honeyhive.events) == len(events), "a complete replay is not repeated"


def test_a_bad_line_in_a_logs_file_stops_with_one_line_naming_it(
    tmp_path: Path, calls: Traffic, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = write_jsonl(tmp_path / "traces.otlp.jsonl", calls.requests)
    logs = tmp_path / "logs.otlp.jsonl"
    logs.write_bytes(logs_json_message(calls.details) + b"\n{\"resourceLogs\": [\n")
    assert main(["convert", "--quiet", str(traces), str(tmp_path / "out.ndjson"), "--logs", str(logs)]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"otel-honeyhive convert: {logs}:2: not an OTLP/JSON ExportLogsServiceRequest"), line
    assert not (tmp_path / "out.ndjson").exists()


def test_a_logs_file_cut_short_stops_with_one_line_naming_the_entry(
    tmp_path: Path, calls: Traffic, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = write_jsonl(tmp_path / "traces.otlp.jsonl", calls.requests)
    logs = tmp_path / "logs.otlp.binpb"
    logs.write_bytes(framed(logs_proto_message(calls.details)) + framed(logs_proto_message(calls.stray))[:-3])
    assert main(["convert", "--quiet", str(traces), str(tmp_path / "out.ndjson"), "--logs", str(logs)]) == 1
    assert one_line(capsys.readouterr().err).startswith(f"otel-honeyhive convert: {logs}: entry 2: ")


@pytest.mark.parametrize("variant", ["json", "proto"])
def test_a_logs_file_given_as_the_traces_file_says_to_use_logs(
    tmp_path: Path, calls: Traffic, variant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = (logs_jsonl(tmp_path / "logs.otlp.jsonl", [calls.details]) if variant == "json"
            else write_collector_logs_file(tmp_path, [calls.details], "proto"))
    assert main(["convert", "--quiet", str(logs), str(tmp_path / "out.ndjson")]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.endswith("holds OTLP logs (resourceLogs), not traces: give it with --logs FILE"), line
    assert f"{logs}:1:" in line or f"{logs}: entry 1:" in line


@pytest.mark.parametrize("variant", ["json", "proto"])
def test_a_traces_file_given_with_logs_says_so(
    tmp_path: Path, calls: Traffic, variant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = (write_jsonl(tmp_path / "traces.otlp.jsonl", calls.requests) if variant == "json"
              else write_collector_file(tmp_path, calls.requests, "proto"))
    assert main(["convert", "--quiet", str(traces), str(tmp_path / "out.ndjson"), "--logs", str(traces)]) == 1
    assert one_line(capsys.readouterr().err).endswith("holds OTLP traces (resourceSpans), not logs: give it as the "
                                                      "traces file, not with --logs")


def test_logs_with_an_events_file_is_refused_as_doing_nothing(
    tmp_path: Path, calls: Traffic, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.ndjson"
    events.write_text("")
    logs = logs_jsonl(tmp_path / "logs.otlp.jsonl", [calls.details])
    assert main(["convert", "--quiet", str(events), str(tmp_path / "out.otlp.jsonl"), "--logs", str(logs)]) == 2
    assert "--logs: log records are joined when OTLP input is converted to events" in one_line(
        capsys.readouterr().err)


def test_explain_with_logs_shows_the_model_call_with_its_content_joined(
    tmp_path: Path, calls: Traffic, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = write_collector_file(tmp_path, calls.requests, "proto-zstd-file")
    logs = write_collector_logs_file(tmp_path, [calls.details, calls.stray], "proto-zstd-file")
    assert main(["explain", "--json", "--source", SOURCE, str(traces), "--logs", str(logs)]) == 0
    explained = {e["event"]["event_id"]: e["event"] for e in json.loads(capsys.readouterr().out)}
    expected = by_id(calls.with_content_on_the_spans())
    models = [i for i, e in expected.items() if e["event_type"] == "model"]
    assert models and all(explained[i]["outputs"] == expected[i]["outputs"] for i in models)
    assert all(explained[i]["inputs"] == expected[i]["inputs"] for i in models)


def test_explain_names_a_bad_logs_file_in_one_line(
    tmp_path: Path, calls: Traffic, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = write_jsonl(tmp_path / "traces.otlp.jsonl", calls.requests)
    assert main(["explain", str(traces), "--logs", str(traces)]) == 1
    assert one_line(capsys.readouterr().err).endswith("not logs: give it as the traces file, not with --logs")


def test_replay_to_an_otlp_endpoint_sends_the_updated_events_again_as_spans(tmp_path: Path, calls: Traffic) -> None:
    """An OTLP receiver takes no updates: the OTLP output sends the event again, merged, the same span ids; the
    last version of every span is the event `convert` writes."""
    from otel_honeyhive import spans_to_events
    from otel_honeyhive.inputs.otlp.decode_proto import decode_protobuf
    from tests.support.fake_otlp import fake_otlp_http

    traces = write_collector_file(tmp_path, calls.requests, "proto")
    logs = write_collector_logs_file(tmp_path, [calls.details, calls.evaluations, calls.stray], "proto")
    expected = convert(tmp_path, traces, logs)
    with fake_otlp_http() as fake:
        assert main(["replay", str(traces), "--logs", str(logs), "--to", "otlp", "--otlp-endpoint", fake.url,
                     "--source", SOURCE, "--quiet"]) == 0
        bodies = [r.body for r in fake.requests if r.status < 300]
    latest = {(s.trace_id, s.span_id): s for body in bodies for s in decode_protobuf(body).spans}
    assert len(latest) < sum(len(decode_protobuf(body).spans) for body in bodies), "updated events sent again"
    assert_same_events(spans_to_events(list(latest.values())), expected)
