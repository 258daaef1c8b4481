"""The server's spool: acknowledged spans survive `kill -9`, backpressure instead of loss, graceful SIGTERM, and
what an application's exporter left in the same directory is shipped.

A real `otel-honeyhive serve` forwards to a fake HoneyHive (a real HTTP server in this process) that is down
(503) or up on cue."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive import HoneyHiveSpanExporter, spans_to_events
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.server import RunningServer, free_port, start_server
from tests.support.spans import traces as support_traces
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # servers killed, restarted, and waited on through backoffs

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def traces(n: int, children: int = 3, *, seed_name: str = "t") -> list[list[ReadableSpan]]:
    """n traces of real SDK spans, each as exported (children first, root last): model calls with a payload."""
    return support_traces(
        n, children, name=seed_name, root=lambda i: {"traceloop.entity.input": json.dumps({"i": i})},
        child=lambda c: {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": c, "payload": "x" * 500},
    )


def post(server: RunningServer, spans: Sequence[ReadableSpan]) -> requests.Response:
    return requests.post(server.url + "/v1/traces", data=encode_spans(spans).SerializeToString(),
                         headers=PROTOBUF, timeout=30)


def bridge(tmp_path: Path, honeyhive: FakeHoneyHive, *extra: str, grpc: bool = False) -> RunningServer:
    """A bridge forwarding to `honeyhive`, spooling on disk; one delivery try lasts at most 1 s (HH_TIMEOUT),
    so the shipper notices a recovered HoneyHive within its 16 s backoff cap."""
    return start_server(
        tmp_path, "--api-key", "hh-key", "--server-url", honeyhive.url, "--spool-dir", str(tmp_path / "spool"),
        "--source", "durability", *extra, grpc=grpc, env={"HH_TIMEOUT": "1"},
    )


def delivered_ids(honeyhive: FakeHoneyHive) -> list[str]:
    return [e["event_id"] for e in honeyhive.events]


def test_kill_9_loses_no_acknowledged_span(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    honeyhive.default = Reply(503)  # HoneyHive is down: everything acknowledged waits on disk
    complete = traces(20)
    unfinished = traces(5, seed_name="open")  # their roots arrive only after the restart
    server = bridge(tmp_path, honeyhive)
    acknowledged: list[ReadableSpan] = []
    for spans in complete:
        assert post(server, spans).status_code == 200
        acknowledged.extend(spans)
    for spans in unfinished:
        children = [s for s in spans if s.parent is not None]
        assert post(server, children).status_code == 200  # held, journaled, acknowledged
        acknowledged.extend(children)
    server.stop(signal.SIGKILL)
    assert honeyhive.events == []

    honeyhive.default = Reply(200)
    restarted = bridge(tmp_path, honeyhive)
    try:
        roots = [s for spans in unfinished for s in spans if s.parent is None]
        assert post(restarted, roots).status_code == 200
        everything = [s for spans in complete + unfinished for s in spans]
        expected = {e["event_id"] for e in spans_to_events(everything, source="durability")}
        wait_until(lambda: expected <= set(delivered_ids(honeyhive)), 60,
                   explain="every acknowledged span delivered after the restart", diagnose=restarted.stderr)
    finally:
        assert restarted.stop() == 0
    by_id = {e["event_id"]: e for e in honeyhive.events}
    for event in spans_to_events(everything, source="durability"):
        assert by_id[event["event_id"]]["parent_id"] == event["parent_id"], "assembled as if nothing happened"


def test_a_killed_servers_held_spans_are_shipped_by_another_server_on_the_directory(
    tmp_path: Path, honeyhive: FakeHoneyHive
) -> None:
    """Two servers share a spool directory; one is killed holding spans whose root never came. The other takes
    its journal over within seconds and ships them when their hold time is up, as it does its own: not only once
    a process starts on the directory again."""
    survivor = bridge(tmp_path, honeyhive, "--hold-timeout", "1")
    killed = bridge(tmp_path, honeyhive, "--hold-timeout", "1")
    try:
        (spans,) = traces(1, seed_name="orphaned")
        children = [s for s in spans if s.parent is not None]
        assert post(killed, children).status_code == 200  # held, journaled, acknowledged
        killed.stop(signal.SIGKILL)
        expected = {e["event_id"] for e in spans_to_events(children, source="durability")}
        wait_until(lambda: expected <= set(delivered_ids(honeyhive)), 20,
                   explain="the killed server's held spans shipped by the live one", diagnose=survivor.stderr)
        wait_until(lambda: not pending_files(tmp_path / "spool" / "held"), 10, explain="the journal emptied")
    finally:
        assert survivor.stop() == 0


def test_a_full_spool_answers_503_with_retry_after_not_loss(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    honeyhive.default = Reply(503)
    server = bridge(tmp_path, honeyhive, "--spool-max-bytes", "60000", grpc=True)
    try:
        statuses = []
        for spans in traces(40):
            response = post(server, spans)
            statuses.append(response.status_code)
            if response.status_code != 200:
                assert response.status_code == 503
                assert int(response.headers["Retry-After"]) >= 1
                break
        assert statuses[0] == 200 and statuses[-1] == 503
        channel = grpc.insecure_channel(server.grpc_target)
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(encode_spans(traces(1)[0]), timeout=10)
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        assert dict(err.value.trailing_metadata() or ())["retry-after"]
        channel.close()
        accepted = statuses.count(200)
        honeyhive.default = Reply(200)  # HoneyHive recovers: every acknowledged trace arrives
        wait_until(lambda: len({e["session_id"] for e in honeyhive.events}) >= accepted, 60,
                   explain=f"the {accepted} acknowledged traces delivered", diagnose=server.stderr)
    finally:
        assert server.stop() == 0


def test_sigterm_stops_quickly_and_keeps_what_it_could_not_ship(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    honeyhive.default = Reply(503, {"Retry-After": "60"})
    server = bridge(tmp_path, honeyhive)
    sent = traces(5)
    for spans in sent:
        assert post(server, spans).status_code == 200
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 15
    assert list(pending_files(tmp_path / "spool" / "outbox")), "undelivered batches stay in the spool"

    honeyhive.default = Reply(200)
    restarted = bridge(tmp_path, honeyhive)
    try:
        expected = {e["event_id"] for e in spans_to_events([s for t in sent for s in t], source="durability")}
        wait_until(lambda: expected <= set(delivered_ids(honeyhive)), 60,
                   explain="the spooled traces delivered by the restarted server", diagnose=restarted.stderr)
    finally:
        assert restarted.stop() == 0


def test_a_trace_held_past_the_hold_time_is_shipped_in_parts(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    server = bridge(tmp_path, honeyhive, "--hold-timeout", "0.3")
    try:
        (spans,) = traces(1, children=2)
        children = [s for s in spans if s.parent is not None]
        root = next(s for s in spans if s.parent is None)
        assert post(server, children).status_code == 200
        wait_until(lambda: len(honeyhive.events) == 2, 60, explain="the held children shipped without their root",
                   diagnose=server.stderr)
        assert post(server, [root]).status_code == 200
        wait_until(lambda: any(e["event_type"] == "session" for e in honeyhive.events), 60,
                   explain="the late root's session event", diagnose=server.stderr)
        twin = next(e for e in honeyhive.events if e["event_type"] == "chain" and e["event_name"] == root.name)
        assert all(e["parent_id"] == twin["event_id"] for e in honeyhive.events[:2])
        assert not list(pending_files(tmp_path / "spool" / "held")), "the journal empties once all is shipped"
    finally:
        assert server.stop() == 0


def test_an_unusable_spool_directory_is_a_clear_error(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "otel_honeyhive.cli", "serve", "--http-port", str(free_port()), "--grpc-port", "0",
         "--api-key", "hh-secret-key", "--server-url", honeyhive.url, "--spool-dir", str(blocker / "spool")],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 1
    assert "cannot use the spool" in done.stderr and "not-a-dir" in done.stderr
    assert "hh-secret-key" not in done.stderr


def test_serve_on_an_exporters_spool_directory_ships_what_the_exporter_left(
    tmp_path: Path, honeyhive: FakeHoneyHive
) -> None:
    """An application's exporter spooled while HoneyHive was down and exited; `serve --spool-dir` on the same
    directory (the sidecar, or a one-off drain) adopts the exporter's segment and ships it."""
    honeyhive.default = Reply(503)
    exporter = HoneyHiveSpanExporter(api_key="hh-key", server_url=honeyhive.url, spool_dir=tmp_path / "spool",
                                     retry_policy=RetryPolicy(deadline=0.5, initial_backoff=0.05))
    spans = [span for trace in traces(4, seed_name="app") for span in trace]
    assert exporter.export(spans).name == "SUCCESS"  # on disk
    exporter.shutdown()
    left = pending_files(tmp_path / "spool" / "outbox")
    assert left, "the exporter left its batches in the directory"
    expected = {e["event_id"] for e in spans_to_events(spans)}
    honeyhive.default = Reply(200)
    server = bridge(tmp_path, honeyhive)
    try:
        wait_until(lambda: expected <= set(delivered_ids(honeyhive)), 30, explain="the exporter's events shipped",
                   diagnose=server.stderr)
        wait_until(lambda: not any(path.exists() for path in left), 10, explain="the exporter's segment adopted")
    finally:
        status = server.stop()
    assert status == 0, server.stderr()
