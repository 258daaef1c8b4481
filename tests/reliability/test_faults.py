"""Thousands of spans through a HoneyHive that misbehaves on purpose, a server killed mid-stream, a full disk:
every acknowledged span arrives.

The fake HoneyHive answers by a fixed plan that cycles through the faults a real API and network produce: a
burst of 503s, 429 with Retry-After, 500, 502, 504, a connection reset without an answer, a stall past the
client's timeout (HoneyHive stored the batch, the client never heard), and a body trickled out slowly. The
figures (spans sent, events delivered, duplicated, lost, faults) are printed at the end of the run.
Duplicates are counted, not failed: delivery is at-least-once, and ids are deterministic so HoneyHive keeps one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.reliability.conftest import Servers
from tests.reliability.figures import FIGURES, StreamFigures
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.metrics import scrape, value
from tests.support.server import RunningServer
from tests.support.spans import SPANS_PER_TRACE, batches, event_ids, llm_traces
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # thousands of spans through faults, servers killed and restarted

SPANS = 3000
API_KEY = "hh-reliability-key"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
SERVER_TIMEOUT = 1.5
"""The server's delivery deadline (HH_TIMEOUT): a stall longer than this is a timeout."""
EXPORTER_POLICY = RetryPolicy(deadline=1.0, initial_backoff=0.05, max_backoff=0.5)


class FaultPlan:
    """The fake's answer to its n-th request: a cycle of every fault, between healthy answers, repeated (or, with
    `once`, followed by healthy answers only: the server's shipper backs off for seconds, 1, 2, 4 … as in
    production, so one pass of every fault keeps its test within the CI budget)."""

    def __init__(self, stall: float, *, once: bool = False) -> None:
        self.once = once
        self.replies: list[tuple[str, Reply]] = [
            ("ok", Reply(200)),
            ("503 burst", Reply(503)), ("503 burst", Reply(503)), ("503 burst", Reply(503)),
            ("ok", Reply(200)),
            ("429 Retry-After", Reply(429, {"Retry-After": "1"})),
            ("ok", Reply(200)),
            ("500", Reply(500, body=b'{"success": false, "error": "internal"}')),
            ("ok", Reply(200)),
            ("connection reset", Reply(fault="reset")),
            ("ok", Reply(200)),
            ("stall past the timeout", Reply(200, delay=stall)),
            ("ok", Reply(200)),
            ("slow body", Reply(200, fault="slow_body")),
            ("502", Reply(502)), ("504", Reply(504)),
            ("ok", Reply(200)),
        ]
        self.given: Counter[str] = Counter()

    def __call__(self, n: int) -> Reply:
        if self.once and n >= len(self.replies):
            kind, reply = "ok", Reply(200)
        else:
            kind, reply = self.replies[n % len(self.replies)]
        self.given[kind] += 1
        return reply

    @property
    def faults(self) -> int:
        return sum(n for kind, n in self.given.items() if kind != "ok")

    @property
    def every_kind_given(self) -> bool:
        return {kind for kind, _ in self.replies} <= set(self.given)


def arrived(honeyhive: FakeHoneyHive) -> list[str]:
    return [event["event_id"] for event in honeyhive.events]


def post(server: RunningServer, spans: list[ReadableSpan]) -> requests.Response:
    return requests.post(server.url + "/v1/traces", data=encode_spans(spans).SerializeToString(),
                         headers=PROTOBUF, timeout=30)


def bridge(
    servers: Servers, spool: Path, honeyhive: FakeHoneyHive, *, grpc: bool = False, max_events_per_request: int = 100
) -> RunningServer:
    """`otel-honeyhive serve` forwarding to the fake HoneyHive through a spool."""
    return servers.start(
        "--api-key", API_KEY, "--server-url", honeyhive.url, "--spool-dir", str(spool), grpc=grpc,
        env={"HH_TIMEOUT": str(SERVER_TIMEOUT), "HH_MAX_EVENTS_PER_REQUEST": str(max_events_per_request)},
    )


# -- (a) the exporter ---------------------------------------------------------------------------------------------


def test_the_exporter_with_a_spool_delivers_every_span_through_every_fault(
    tmp_path: Path, honeyhive: FakeHoneyHive
) -> None:
    plan = FaultPlan(stall=EXPORTER_POLICY.deadline + 0.5)
    honeyhive.policy = plan
    spans = llm_traces(SPANS // SPANS_PER_TRACE, name="exporter")
    exporter = HoneyHiveSpanExporter(
        api_key=API_KEY, server_url=honeyhive.url, spool_dir=tmp_path / "spool", max_events_per_request=100,
        retry_policy=EXPORTER_POLICY,
    )
    try:
        for batch in batches(spans, 200):  # as a BatchSpanProcessor hands them over
            assert exporter.export(batch) is SpanExportResult.SUCCESS  # the complete traces are on disk
        assert exporter.force_flush(90_000), "the spool never emptied"
    finally:
        exporter.shutdown()
    figures = StreamFigures.tally("exporter, spool_dir", sent=len(spans), acknowledged=len(spans),
                                  expected=event_ids(spans), arrived=arrived(honeyhive), faults=plan.faults)
    FIGURES.streams.append(figures)
    assert figures.lost == 0
    assert plan.every_kind_given
    assert exporter.stats.events_failed == 0
    assert not pending_files(tmp_path / "spool") and not (tmp_path / "spool" / "dead").exists()


# -- (b) the server -----------------------------------------------------------------------------------------------


def test_the_server_with_a_spool_delivers_every_span_through_every_fault(
    tmp_path: Path, servers: Servers, honeyhive: FakeHoneyHive
) -> None:
    plan = FaultPlan(stall=SERVER_TIMEOUT + 0.5, once=True)
    honeyhive.policy = plan
    server = bridge(servers, tmp_path / "spool", honeyhive, grpc=True, max_events_per_request=250)
    spans = llm_traces(SPANS // SPANS_PER_TRACE, name="server")
    channel = grpc.insecure_channel(server.grpc_target)
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
    for i, batch in enumerate(batches(spans, 250)):  # half over OTLP/HTTP, half over OTLP/gRPC
        if i % 2:
            stub.Export(encode_spans(batch), timeout=30)  # raises unless OK
        else:
            assert post(server, batch).status_code == 200
    channel.close()
    expected = event_ids(spans)
    wait_until(lambda: expected <= set(arrived(honeyhive)), 120, explain="every acknowledged span delivered",
               diagnose=server.stderr)
    figures = StreamFigures.tally("server, --spool-dir (HTTP + gRPC)", sent=len(spans), acknowledged=len(spans),
                                  expected=expected, arrived=arrived(honeyhive), faults=plan.faults)
    FIGURES.streams.append(figures)
    assert figures.lost == 0
    assert plan.every_kind_given
    metrics = scrape(server)  # the counters tell the same story
    assert value(metrics, "otel_honeyhive_spans_received_total") == len(spans)
    assert value(metrics, "otel_honeyhive_events_mapped_total") == len(expected)
    assert value(metrics, "otel_honeyhive_delivery_retries_total") > 0
    assert value(metrics, "otel_honeyhive_events_dead_lettered_total") == 0
    assert value(metrics, "otel_honeyhive_spans_dropped_total", {"reason": "delivery_failed"}) == 0
    wait_until(lambda: value(scrape(server), "otel_honeyhive_spool_records", {"spool": "outbox"}) == 0, 10,
               explain="the outbox spool to empty", diagnose=server.stderr)


# -- (c) kill -9 in the middle of a stream -----------------------------------------------------------------------


class Stream:
    """A client posting batches one after another in a thread, noting which were acknowledged (200); it stops
    at the first request that fails (the server is gone). With `pause_after`, it waits after that many
    acknowledged batches until `resume()`: the moment to pull the plug."""

    def __init__(self, server: RunningServer, parts: list[list[ReadableSpan]], pause_after: int | None = None
                 ) -> None:
        self.acknowledged: list[int] = []
        self._pause_after = pause_after
        self._resume = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(server, parts), daemon=True)
        self._thread.start()

    def _run(self, server: RunningServer, parts: list[list[ReadableSpan]]) -> None:
        for i, batch in enumerate(parts):
            if i == self._pause_after:
                self._resume.wait(60)
            try:
                if post(server, batch).status_code != 200:
                    return
            except requests.RequestException:
                return
            self.acknowledged.append(i)

    def resume(self) -> None:
        self._resume.set()

    def join(self) -> None:
        self._thread.join(30)
        assert not self._thread.is_alive()


def test_kill_9_in_the_middle_of_a_stream_loses_no_acknowledged_span(
    tmp_path: Path, servers: Servers, honeyhive: FakeHoneyHive
) -> None:
    honeyhive.default = Reply(200, delay=0.05)  # up, a little slow: deliveries are in flight at the kill
    spans = llm_traces(SPANS // SPANS_PER_TRACE, name="crash")
    parts = batches(spans, 96)  # 32 requests; traces straddle requests, so spans are held (journaled) at the kill
    server = bridge(servers, tmp_path / "spool", honeyhive)
    half = len(parts) // 2  # 16 batches of 96: the last ends inside a trace of 5, whose root is in the next one
    stream = Stream(server, parts, pause_after=half)
    held = tmp_path / "spool" / "held"  # spans acknowledged while their trace's root has not arrived yet
    wait_until(lambda: len(stream.acknowledged) == half and pending_files(held), 60,
               explain=f"{half} batches acknowledged and spans journaled", diagnose=server.stderr)
    server.stop(signal.SIGKILL)
    stream.resume()
    stream.join()
    acknowledged = [s for i in stream.acknowledged for s in parts[i]]
    assert 0 < len(acknowledged) < len(spans)

    restarted = bridge(servers, tmp_path / "spool", honeyhive)
    for i, batch in enumerate(parts):  # the client sends again what was not acknowledged, then the rest
        if i not in stream.acknowledged:
            assert post(restarted, batch).status_code == 200
    expected = event_ids(spans)
    wait_until(lambda: expected <= set(arrived(honeyhive)), 60, explain="every span delivered after the restart",
               diagnose=restarted.stderr)
    figures = StreamFigures.tally("server, kill -9 mid-stream + restart", sent=len(spans),
                                  acknowledged=len(spans), expected=expected, arrived=arrived(honeyhive), faults=1)
    FIGURES.streams.append(figures)
    assert event_ids(acknowledged) <= set(arrived(honeyhive)), "a span acknowledged before the kill was lost"
    assert figures.lost == 0


# -- (d) a full disk, an unusable spool --------------------------------------------------------------------------


@contextmanager
def tiny_disk(mountpoint: Path, size: str) -> Iterator[Path]:
    """A real file system of `size` (tmpfs), so writes fail with ENOSPC as on a full disk. Needs root."""
    mountpoint.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root; ENOSPC is covered by tests/shipping (simulated)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); ENOSPC is covered by tests/shipping")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_a_full_disk_answers_503_naming_the_cause_and_loses_nothing(
    tmp_path: Path, servers: Servers, honeyhive: FakeHoneyHive
) -> None:
    honeyhive.default = Reply(503)  # HoneyHive is down: the spool grows until the disk is full
    spans = llm_traces(200, name="disk")
    parts = batches(spans, 50)
    with tiny_disk(tmp_path / "disk", "192k") as disk:
        server = bridge(servers, disk / "spool", honeyhive)
        refused: list[list[ReadableSpan]] = []
        for batch in parts:
            response = post(server, batch)
            if response.status_code != 200:
                assert response.status_code == 503, response.content
                assert int(response.headers["Retry-After"]) >= 1
                assert b"No space left on device" in response.content and b"spool" in response.content
                refused.append(batch)  # the client keeps what was refused, and sends it again later
        assert refused, "the disk never filled up"
        assert "No space left on device" in server.stderr()  # logged for the operator, too

        honeyhive.default = Reply(200)  # HoneyHive is back: the spool drains, the disk has room again
        for batch in refused:
            wait_until(lambda batch=batch: post(server, batch).status_code == 200, 60,  # type: ignore[misc]
                       explain="a refused batch accepted once the disk has room", diagnose=server.stderr,
                       interval=0.1)
        expected = event_ids(spans)
        wait_until(lambda: expected <= set(arrived(honeyhive)), 60, explain="every span delivered",
                   diagnose=server.stderr)
        server.stop()
    figures = StreamFigures.tally("server, disk full (192 KiB tmpfs)", sent=len(spans), acknowledged=len(spans),
                                  expected=expected, arrived=arrived(honeyhive), faults=len(refused))
    FIGURES.streams.append(figures)
    assert figures.lost == 0


def test_a_spool_that_breaks_while_serving_is_refused_with_its_cause(
    tmp_path: Path, servers: Servers, honeyhive: FakeHoneyHive
) -> None:
    server = bridge(servers, tmp_path / "spool", honeyhive)
    (first,) = batches(llm_traces(1, name="before"), SPANS_PER_TRACE)
    assert post(server, first).status_code == 200
    held = tmp_path / "spool" / "held"
    shutil.rmtree(held)
    held.write_text("a file where the journal directory was")
    (batch,) = batches(llm_traces(1, name="after"), SPANS_PER_TRACE)
    children = [span for span in batch if span.parent is not None]  # their root is still to come: they wait
    response = post(server, children)
    assert response.status_code == 502  # not accepted; OTLP clients retry a 502, so the client keeps the spans
    assert str(held).encode() in response.content and b"Not a directory" in response.content
    assert server.healthy()
    # A whole trace waits for nothing: its events go to the delivery spool, which still works.
    (whole,) = batches(llm_traces(1, name="whole"), SPANS_PER_TRACE)
    assert post(server, whole).status_code == 200
    wait_until(lambda: event_ids(whole) <= set(arrived(honeyhive)), 30, explain="the whole trace delivered",
               diagnose=server.stderr)
