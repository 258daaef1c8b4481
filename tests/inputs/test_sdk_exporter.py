"""HoneyHiveSpanExporter over real HTTP on loopback: delivery, assembly, payloads, retries, bad values."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_honeyhive import HoneyHiveSpanExporter, spans_to_events
from otel_honeyhive.core.encoded import EncodedEvents
from otel_honeyhive.core.results import DELIVERED
from otel_honeyhive.mapper.identity import session_id_for_trace
from otel_honeyhive.mapper.rules import Field
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, Reply, fake_honeyhive
from tests.support.spans import chat_span, provider_exporting_to, retriever_span
from tests.support.waiting import wait_until

API_KEY = "hh-secret-key-0123456789"
FAST = RetryPolicy(deadline=5.0, initial_backoff=0.05, max_backoff=0.2, jitter=0.2)


@pytest.fixture
def server() -> Iterator[FakeHoneyHive]:
    with fake_honeyhive() as s:
        yield s


def make_exporter(server: FakeHoneyHive, **kwargs: Any) -> HoneyHiveSpanExporter:
    kwargs.setdefault("retry_policy", FAST)
    return HoneyHiveSpanExporter(api_key=API_KEY, server_url=server.url, project="proj", **kwargs)


def rag_trace(provider: TracerProvider, *, prompt: str = "What is OTel?") -> int:
    """A small RAG trace: root → retrieve (tool), llm (model). Returns its trace id."""
    tracer = provider.get_tracer("tests.rag", "1.0")
    with tracer.start_as_current_span("rag-pipeline") as root:
        root.set_attribute("traceloop.entity.input", json.dumps({"args": [prompt], "kwargs": {}}))
        with retriever_span(tracer, "OpenTelemetry is ..."):
            pass
        with chat_span(tracer, name="chat gpt-4o", attributes={
            "gen_ai.provider.name": "openai",
            "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": prompt,
            "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "A standard for telemetry.",
            "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 7,
        }):
            pass
        return root.get_span_context().trace_id


# -- delivery ---------------------------------------------------------------------------------------------------


def test_a_trace_arrives_as_one_session_with_its_events(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server)
    trace_id = rag_trace(provider_exporting_to(exporter))
    exporter.shutdown()

    assert len(server.batches) == 1, "children are held until the root ends, then shipped together"
    request = server.batches[0]
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"].startswith("otel-honeyhive/")
    assert request.headers["Content-Type"] == "application/json"
    body = request.body
    assert body["is_single_session"] is False
    events = body["events"]
    session_id = session_id_for_trace(trace_id)
    assert [e["event_type"] for e in events] == ["session", "tool", "model"]
    assert events[0]["event_id"] == session_id and events[0]["parent_id"] is None
    assert all(e["session_id"] == session_id and e["project"] == "proj" for e in events)
    assert all(e["parent_id"] == session_id for e in events[1:]), "children of the root point at the session"
    assert sorted(events[0]["children_ids"]) == sorted(e["event_id"] for e in events[1:])
    model = events[2]
    assert model["config"]["model"] == "gpt-4o" and model["metadata"]["total_tokens"] == 19


def test_children_exported_before_their_root_point_at_the_session(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server)
    provider = provider_exporting_to(exporter)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root") as root, tracer.start_as_current_span("child"):
        pass  # SimpleSpanProcessor exports "child" first, alone
    exporter.shutdown()
    events = server.events
    session_id = session_id_for_trace(root.get_span_context().trace_id)
    child = next(e for e in events if e["event_name"] == "child")
    assert child["parent_id"] == session_id


def test_two_exporter_instances_produce_identical_events(server: FakeHoneyHive) -> None:
    memory = InMemorySpanExporter()
    rag_trace(provider_exporting_to(memory))
    spans = memory.get_finished_spans()
    for _ in range(2):
        exporter = make_exporter(server)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
    first, second = server.batches[0].body["events"], server.batches[1].body["events"]
    assert first == second
    assert first == spans_to_events(spans, project="proj")


def test_a_trace_that_outlives_the_hold_time_is_shipped_in_parts_without_dangling_events(
    server: FakeHoneyHive,
) -> None:
    exporter = make_exporter(server, hold_timeout=0.2)
    provider = provider_exporting_to(exporter)
    tracer = provider.get_tracer("agent")
    root = tracer.start_span("long-agent")
    ctx = trace.set_span_in_context(root)
    with tracer.start_as_current_span("step-1", context=ctx):
        pass
    wait_until(lambda: server.batches, 5, explain="a batch sent once the hold time passes")
    assert len(server.batches) == 1, "the held child is released when the hold time passes"
    early = server.batches[0].body["events"]
    trace_id = root.get_span_context().trace_id
    root_span_id = root.get_span_context().span_id
    root.end()
    exporter.shutdown()

    late = server.batches[1].body["events"]
    session_id = session_id_for_trace(trace_id)
    (step,) = early
    twin = next(e for e in late if e["event_type"] == "chain")
    session = next(e for e in late if e["event_type"] == "session")
    assert step["parent_id"] == twin["event_id"], "the early child points at its parent's derived id"
    assert twin["metadata"]["span_id"] == f"{root_span_id:016x}"
    assert twin["parent_id"] == session_id == session["event_id"]
    assert twin["children_ids"] == [step["event_id"]]
    assert twin["event_id"] in session["children_ids"]


def test_force_flush_ships_what_is_held(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server, hold_timeout=60)
    tracer = provider_exporting_to(exporter).get_tracer("t")
    root = tracer.start_span("root")
    with tracer.start_as_current_span("child", context=trace.set_span_in_context(root)):
        pass
    assert server.batches == []
    assert exporter.force_flush() is True
    assert [e["event_name"] for e in server.events] == ["child"]
    root.end()
    exporter.shutdown()


# -- payloads ---------------------------------------------------------------------------------------------------


def test_batches_split_by_event_count_keep_the_session_event_first(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server, max_events_per_request=2)
    trace_id = rag_trace(provider_exporting_to(exporter))
    exporter.shutdown()
    sizes = [len(r.body["events"]) for r in server.batches]
    assert sizes == [2, 1]
    assert server.batches[0].body["events"][0]["event_id"] == session_id_for_trace(trace_id)


def test_batches_split_by_bytes(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server, max_request_bytes=4096)
    provider = provider_exporting_to(exporter)
    for _ in range(6):
        rag_trace(provider, prompt="x" * 1500)
    exporter.shutdown()
    assert len(server.batches) > 1
    assert all(len(r.raw) <= 4096 for r in server.batches)
    assert len({e["event_id"] for e in server.events}) == 18


def test_an_event_too_large_for_any_request_is_cut_and_marked_not_refused(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server, max_request_bytes=8192)
    rag_trace(provider_exporting_to(exporter), prompt="y" * 50_000)
    exporter.shutdown()
    assert all(len(r.raw) <= 8192 for r in server.batches)
    model = next(e for e in server.events if e["event_type"] == "model")
    assert "otel_honeyhive_truncated" in model["metadata"]
    assert "truncated" in model["inputs"]["chat_history"][0]["content"]


def test_per_session_mode_sends_session_properties(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server, batch_mode="session")
    provider = provider_exporting_to(exporter)
    a, b = rag_trace(provider), rag_trace(provider)
    exporter.shutdown()
    bodies = [r.body for r in server.batches]
    assert [body["is_single_session"] for body in bodies] == [True, True]
    assert [body["session_properties"]["session_id"] for body in bodies] == [
        session_id_for_trace(a),
        session_id_for_trace(b),
    ]
    assert bodies[0]["session_properties"]["session_name"] == "rag-pipeline"
    assert all(e["event_type"] != "session" for body in bodies for e in body["events"])


def test_gzip_compression(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server, compression="gzip")
    rag_trace(provider_exporting_to(exporter))
    exporter.shutdown()
    request = server.batches[0]
    assert request.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(request.raw))["events"][0]["event_type"] == "session"


# -- retries ----------------------------------------------------------------------------------------------------


def export_one_trace(exporter: HoneyHiveSpanExporter) -> SpanExportResult:
    memory = InMemorySpanExporter()
    rag_trace(provider_exporting_to(memory))
    return exporter.export(memory.get_finished_spans())


def test_503_then_200_is_retried_and_delivered(server: FakeHoneyHive) -> None:
    server.then(Reply(503), Reply(200))
    exporter = make_exporter(server)
    assert export_one_trace(exporter) is SpanExportResult.SUCCESS
    assert [r.status for r in server.batches] == [503, 200]
    assert server.batches[0].raw == server.batches[1].raw
    exporter.shutdown()


@pytest.mark.parametrize("status", [429, 502, 504])
def test_other_transient_statuses_are_retried(server: FakeHoneyHive, status: int) -> None:
    server.then(Reply(status))
    exporter = make_exporter(server)
    assert export_one_trace(exporter) is SpanExportResult.SUCCESS
    assert [r.status for r in server.batches] == [status, 200]
    exporter.shutdown()


@pytest.mark.slow  # waits out a Retry-After
def test_429_retry_after_in_seconds_is_honoured(server: FakeHoneyHive) -> None:
    server.then(Reply(429, {"Retry-After": "1"}))
    exporter = make_exporter(server)
    assert export_one_trace(exporter) is SpanExportResult.SUCCESS
    first, second = server.batches
    assert second.at - first.at >= 0.95, "Retry-After replaces the (much shorter) backoff"
    exporter.shutdown()


@pytest.mark.slow  # waits out a Retry-After
def test_429_retry_after_as_http_date_is_honoured(server: FakeHoneyHive) -> None:
    server.then(Reply(429, {"Retry-After": formatdate(time.time() + 2, usegmt=True)}))
    exporter = make_exporter(server)
    assert export_one_trace(exporter) is SpanExportResult.SUCCESS
    first, second = server.batches
    assert second.at - first.at >= 0.9  # HTTP-dates have one-second resolution
    exporter.shutdown()


def test_400_is_not_retried(server: FakeHoneyHive) -> None:
    server.then(Reply(400, body=b'{"error": "bad event"}'))
    exporter = make_exporter(server)
    assert export_one_trace(exporter) is SpanExportResult.FAILURE
    assert len(server.batches) == 1
    assert exporter.stats.events_failed == 3
    exporter.shutdown()


def test_an_export_failing_after_some_bodies_counts_their_events_delivered(
    server: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    """Four traces of five spans, two events per request: the third body is refused, the first two arrived.
    The stats and the log line count those four events delivered, not failed."""
    from tests.support.spans import llm_traces

    server.then(Reply(200), Reply(200), Reply(400, body=b'{"error": "bad event"}'))
    exporter = make_exporter(server, max_events_per_request=2)
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive"):
        assert exporter.export(llm_traces(4)) is SpanExportResult.FAILURE
    assert len(server.events) == 4
    assert (exporter.stats.events_delivered, exporter.stats.events_failed) == (4, 16)
    assert any("16 of 20 events not delivered" in r.getMessage() for r in caplog.records)
    exporter.shutdown()


def test_the_deadline_bounds_all_attempts(server: FakeHoneyHive) -> None:
    server.default = Reply(503)
    exporter = make_exporter(server, retry_policy=RetryPolicy(deadline=1.0, initial_backoff=0.1, jitter=0))
    started = time.monotonic()
    assert export_one_trace(exporter) is SpanExportResult.FAILURE
    elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert 3 <= len(server.batches) <= 5  # 0.1 + 0.2 + 0.4 s of backoff fit in 1 s; 0.8 s more would not
    exporter.shutdown()


def test_retry_after_beyond_the_deadline_fails_at_once(server: FakeHoneyHive) -> None:
    server.then(Reply(503, {"Retry-After": "60"}))
    exporter = make_exporter(server)
    started = time.monotonic()
    assert export_one_trace(exporter) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 1.0
    exporter.shutdown()


def test_connection_errors_are_retried_until_the_deadline() -> None:
    with fake_honeyhive() as gone:
        url = gone.url  # a port nothing listens on once the server is stopped
    exporter = HoneyHiveSpanExporter(
        api_key=API_KEY, server_url=url, retry_policy=RetryPolicy(deadline=0.8, initial_backoff=0.1)
    )
    started = time.monotonic()
    assert export_one_trace(exporter) is SpanExportResult.FAILURE
    assert 0.2 < time.monotonic() - started < 1.5
    exporter.shutdown()


def test_a_stalled_server_is_a_timeout_not_a_hang(server: FakeHoneyHive) -> None:
    server.then(Reply(200, delay=3.0))
    exporter = make_exporter(server, retry_policy=RetryPolicy(deadline=0.5, initial_backoff=0.1))
    started = time.monotonic()
    assert export_one_trace(exporter) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 1.5
    exporter.shutdown()


def test_shutdown_interrupts_a_backoff(server: FakeHoneyHive) -> None:
    server.default = Reply(503, {"Retry-After": "20"})
    exporter = make_exporter(server, retry_policy=RetryPolicy(deadline=30.0))
    results: list[SpanExportResult] = []
    worker = threading.Thread(target=lambda: results.append(export_one_trace(exporter)))
    worker.start()
    wait_until(lambda: server.batches, 5, explain="the first try", interval=0.01)
    time.sleep(0.1)  # now inside the 20 s backoff
    started = time.monotonic()
    exporter.shutdown()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert time.monotonic() - started < 2.0
    assert results == [SpanExportResult.FAILURE]
    assert exporter.export([]) is SpanExportResult.FAILURE, "export after shutdown fails at once"
    exporter.shutdown()  # a second shutdown is harmless


# -- robustness -------------------------------------------------------------------------------------------------


def test_bad_attribute_values_still_deliver_valid_json(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server)
    tracer = provider_exporting_to(exporter).get_tracer("t")
    with tracer.start_as_current_span("root") as span:
        span.set_attribute("nan", float("nan"))
        span.set_attribute("inf", float("-inf"))
        span.set_attribute("bytes", b"\xff\x00binary")
        span.set_attribute("gen_ai.input.messages", '[{"role": "user", "parts": [{"type": "text", "content": "cut')
        span.set_attribute("gen_ai.usage.input_tokens", "not-a-number")
        span.set_attribute("honeyhive.session_id", "not-a-uuid")
    exporter.shutdown()
    (event,) = server.events
    json.dumps(event, allow_nan=False)
    metadata = event["metadata"]
    assert metadata["nan"] == "NaN" and metadata["inf"] == "-Infinity"
    assert metadata["gen_ai.input.messages"].endswith("cut"), "truncated JSON is kept raw"
    assert metadata["gen_ai.usage.input_tokens"] == "not-a-number"
    assert event["event_type"] == "session", "an invalid explicit session id is ignored"


def test_json_nested_deeper_than_json_encoders_write_ships_with_the_spans_beside_it(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    deep = "[" * 1_000 + '"bottom"' + "]" * 1_000  # parses (orjson reads 1,024 levels), deeper than it writes
    for name in ("before", "deep", "after"):
        with tracer.start_as_current_span(name) as span:
            span.set_attribute("input.value", deep if name == "deep" else name)
    provider.shutdown()
    assert sorted(e["event_name"] for e in server.events) == ["after", "before", "deep"]
    assert exporter.stats.export_errors == 0 and exporter.stats.events_failed == 0
    (event,) = [e for e in server.events if e["event_name"] == "deep"]
    assert 'bottom' in json.dumps(event), "the deepest levels are kept, as JSON text"


def test_text_utf8_cannot_hold_ships_escaped_with_the_spans_beside_it(server: FakeHoneyHive) -> None:
    """A lone surrogate (bytes decoded with `surrogateescape`: a file name, an environment value)."""
    exporter = make_exporter(server)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for name in ("before", "odd", "after"):
        with tracer.start_as_current_span(name) as span:
            span.set_attribute("path", "file-\udcff.txt" if name == "odd" else name)
    provider.shutdown()
    assert sorted(e["event_name"] for e in server.events) == ["after", "before", "odd"]
    (odd,) = [e for e in server.events if e["event_name"] == "odd"]
    assert odd["metadata"]["path"] == "file-\\udcff.txt"


def test_export_never_raises_even_when_the_output_does(server: FakeHoneyHive) -> None:
    class Exploding:
        name = "exploding"

        def send(self, events: Any, *, stop: Any = None) -> Any:
            raise RuntimeError("boom")

        def update(self, update: Any, *, stop: Any = None) -> Any:
            raise RuntimeError("boom")

        def close(self) -> None:
            pass

    exporter = HoneyHiveSpanExporter(output=Exploding())
    assert export_one_trace(exporter) is SpanExportResult.FAILURE
    exporter.shutdown()


def test_the_api_key_never_appears_in_logs_or_reprs(server: FakeHoneyHive, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.default = Reply(400, body=f'{{"error": "echo {uuid.uuid4()}"}}'.encode())
    exporter = make_exporter(server)
    export_one_trace(exporter)
    exporter.shutdown()
    assert "400" in caplog.text
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(exporter) and API_KEY not in repr(exporter.settings)


def test_custom_rules_apply_in_the_exporter(server: FakeHoneyHive) -> None:
    exporter = make_exporter(server, rules=[Field("app.model", "config.model", rank=0)])
    tracer = provider_exporting_to(exporter).get_tracer("t")
    with tracer.start_as_current_span("root") as span:
        span.set_attribute("app.model", "my-model")
    exporter.shutdown()
    assert server.events[0]["config"]["model"] == "my-model"


# -- configuration ----------------------------------------------------------------------------------------------


def test_configuration_falls_back_to_hh_environment(server: FakeHoneyHive, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_API_KEY", "env-key")
    monkeypatch.setenv("HH_API_URL", server.url)
    monkeypatch.setenv("HH_PROJECT", "env-project")
    monkeypatch.setenv("HH_SOURCE", "staging")
    exporter = HoneyHiveSpanExporter(retry_policy=FAST)
    rag_trace(provider_exporting_to(exporter))
    exporter.shutdown()
    request = server.batches[0]
    assert request.headers["Authorization"] == "Bearer env-key"
    assert {(e["project"], e["source"]) for e in request.body["events"]} == {("env-project", "staging")}


def test_keywords_win_over_environment(server: FakeHoneyHive, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_PROJECT", "env-project")
    exporter = make_exporter(server)
    rag_trace(provider_exporting_to(exporter))
    exporter.shutdown()
    assert server.events[0]["project"] == "proj"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compression": "brotli"}, "compression"),
        ({"server_url": "ftp://x"}, "server URL"),
        ({"timeout": -1}, "timeout"),
        ({"max_events_per_request": 0}, "max_events_per_request"),
        ({"batch_mode": "many"}, "batch_mode"),
    ],
)
def test_bad_configuration_is_refused_with_the_option_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HoneyHiveSpanExporter(**kwargs)


def test_bad_environment_is_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="HH_TIMEOUT"):
        HoneyHiveSpanExporter()


# -- durability (spool_dir) -------------------------------------------------------------------------------------


def test_with_a_spool_an_outage_loses_nothing(server: FakeHoneyHive, tmp_path: Any) -> None:
    server.default = Reply(503)
    exporter = make_exporter(server, spool_dir=tmp_path / "spool")
    trace_ids = [rag_trace(provider_exporting_to(exporter)) for _ in range(3)]
    assert exporter.stats.events_delivered == 9, "accepted once durable on disk, while HoneyHive is down"
    server.default = Reply(200)
    assert exporter.force_flush(timeout_millis=10_000)
    exporter.shutdown()
    sessions = {e["session_id"] for e in server.events}
    assert sessions == {session_id_for_trace(t) for t in trace_ids}
    assert len({e["event_id"] for e in server.events}) == 9


def test_with_a_spool_a_restart_delivers_what_the_last_process_accepted(server: FakeHoneyHive, tmp_path: Any) -> None:
    spool = tmp_path / "spool"
    script = (
        "import sys, json\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from otel_honeyhive import HoneyHiveSpanExporter\n"
        "from otel_honeyhive.shipping.retry import RetryPolicy\n"
        f"ex = HoneyHiveSpanExporter(api_key='k', server_url={server.url!r}, spool_dir={str(spool)!r},\n"
        "                           retry_policy=RetryPolicy(deadline=0.5, initial_backoff=0.1))\n"
        "tp = TracerProvider(); tp.add_span_processor(SimpleSpanProcessor(ex))\n"
        "t = tp.get_tracer('x')\n"
        "ids = []\n"
        "for i in range(5):\n"
        "    with t.start_as_current_span(f'root-{i}') as r:\n"
        "        with t.start_as_current_span('child'): pass\n"
        "    ids.append(r.get_span_context().trace_id)\n"
        "print(json.dumps(ids)); sys.stdout.flush()\n"
        "import os; os._exit(0)  # no shutdown, no flush: like a crash right after export() returned\n"
    )
    server.default = Reply(503)
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    trace_ids = json.loads(out.stdout)
    assert server.events == []
    server.default = Reply(200)
    exporter = make_exporter(server, spool_dir=spool)
    assert exporter.force_flush(timeout_millis=10_000)
    exporter.shutdown()
    assert {e["session_id"] for e in server.events} == {session_id_for_trace(t) for t in trace_ids}
    assert len({e["event_id"] for e in server.events}) == 10


def test_events_an_earlier_version_spooled_are_shipped(server: FakeHoneyHive, tmp_path: Any) -> None:
    """It kept them at the root of `spool_dir`; the exporter now keeps its own in `spool_dir/outbox`, as `serve`."""
    from otel_honeyhive.shipping.records import SpoolRecord

    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    record = SpoolRecord.of_events([{"event_id": "left-by-0.x", "event_type": "tool", "event_name": "old"}])
    (spool / f"{1:020d}.rec").write_bytes(record.encode())
    exporter = make_exporter(server, spool_dir=spool)
    assert exporter.force_flush(timeout_millis=5_000)
    exporter.shutdown()
    assert [e["event_id"] for e in server.events] == ["left-by-0.x"]
    assert (spool / "outbox").is_dir()


def test_the_spool_directory_is_created_private(server: FakeHoneyHive, tmp_path: Any) -> None:
    exporter = make_exporter(server, spool_dir=tmp_path / "new" / "spool")
    exporter.shutdown()
    assert {oct(path.stat().st_mode & 0o777) for path in [tmp_path / "new" / "spool", tmp_path / "new" / "spool" /
                                                           "outbox"]} == {"0o700"}


def test_a_tilde_in_hh_spool_dir_is_the_home_directory(
    server: FakeHoneyHive, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Env files, systemd units and Dockerfiles pass `~/hhspool` as it is: no `./~/hhspool`."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HH_SPOOL_DIR", "~/hhspool")
    monkeypatch.chdir(tmp_path)
    exporter = make_exporter(server)
    assert exporter.stats.spooled
    exporter.shutdown()
    assert (tmp_path / "home" / "hhspool" / "outbox").is_dir() and not (tmp_path / "~").exists()


def test_an_unusable_spool_directory_is_one_line_and_the_exporter_ships_directly(
    server: FakeHoneyHive, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")  # root ignores permissions: a path under a file cannot be made by anyone
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive"):
        exporter = make_exporter(server, spool_dir=blocker / "spool")
        trace_id = rag_trace(provider_exporting_to(exporter))
    (line,) = caplog.records
    assert line.levelno == logging.ERROR and not line.exc_info
    assert line.getMessage() == (
        f"otel-honeyhive: cannot use spool directory {blocker / 'spool'}: [Errno 20] Not a directory: "
        f"{blocker / 'spool' / 'outbox'}; shipping directly without a spool ({blocker} is a file where a directory "
        "should be: move it away; or set HH_SPOOL_DIR / spool_dir= to another directory)")
    stats = exporter.stats
    assert (stats.spooled, stats.events_delivered) == (False, 3)
    assert stats.spool_error is not None and "a-file" in stats.spool_error
    exporter.shutdown()
    assert {e["session_id"] for e in server.events} == {session_id_for_trace(trace_id)}


@pytest.mark.parametrize("blocked", ["outbox", "outbox/segments"])
def test_a_file_inside_the_spool_directory_is_named_by_the_error_line_not_its_parent(
    server: FakeHoneyHive, tmp_path: Any, caplog: pytest.LogCaptureFixture, blocked: str
) -> None:
    """Before: "cannot use spool directory DIR: [Errno 17] File exists", DIR being writable and fine."""
    spool = tmp_path / "spool"
    (spool / blocked).parent.mkdir(parents=True, exist_ok=True)
    (spool / blocked).write_text("in the way")
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive"):
        exporter = make_exporter(server, spool_dir=spool)
    exporter.shutdown()
    (line,) = caplog.records
    assert line.getMessage() == (
        f"otel-honeyhive: cannot use spool directory {spool}: [Errno 17] File exists: {spool / blocked}; shipping "
        f"directly without a spool ({spool / blocked} is a file where a directory should be: move it away; or set "
        "HH_SPOOL_DIR / spool_dir= to another directory)")


def test_a_spool_directory_removed_while_running_does_not_lose_spans(
    server: FakeHoneyHive, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = make_exporter(server, spool_dir=tmp_path / "spool")
    provider = provider_exporting_to(exporter)
    first = rag_trace(provider)
    assert exporter.force_flush(timeout_millis=5_000)
    shutil.rmtree(tmp_path / "spool")
    (tmp_path / "spool").write_text("gone")
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive"):
        later = [rag_trace(provider) for _ in range(2)]
    exporter.shutdown()
    stats = exporter.stats
    assert (stats.spooled, stats.spool_fallbacks, stats.events_delivered, stats.events_failed) == (True, 2, 9, 0)
    assert {e["session_id"] for e in server.events} == {session_id_for_trace(t) for t in [first, *later]}
    assert len(server.events) == 9
    errors = [r for r in caplog.records if r.name.startswith("otel_honeyhive.shipping.delivery")]
    assert len(errors) == 1 and "sending batches directly while the spool cannot take them" in errors[0].getMessage()
    assert not errors[0].exc_info


def test_credentials_in_the_server_url_are_redacted_from_reprs() -> None:
    exporter = HoneyHiveSpanExporter(server_url="https://user:pa55word@example.invalid/api")
    assert "pa55word" not in repr(exporter)
    assert "https://***@example.invalid/api" in repr(exporter.settings)
    exporter.shutdown()


def test_a_missing_api_key_for_honeyhive_itself_is_warned_about_once_at_start(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HH_API_KEY", raising=False)
    monkeypatch.delenv("HH_API_URL", raising=False)
    exporter = HoneyHiveSpanExporter()
    exporter.shutdown()
    assert "no API key" in caplog.text


def test_events_reach_an_output_encoded_only_if_it_reads_bytes_and_are_the_same_events_either_way() -> None:
    class Recording:
        name = "recording"

        def __init__(self, reads_encoded: bool) -> None:
            self.reads_encoded = reads_encoded
            self.batches: list[Any] = []

        def send(self, events: Any, *, stop: Any = None) -> Any:
            self.batches.append(events)
            return DELIVERED

        def update(self, update: Any, *, stop: Any = None) -> Any:
            return DELIVERED

        def close(self) -> None:
            pass

    joined, plain = Recording(reads_encoded=True), Recording(reads_encoded=False)
    exporters = [HoneyHiveSpanExporter(output=joined), HoneyHiveSpanExporter(output=plain)]
    rag_trace(provider_exporting_to(*exporters))
    for exporter in exporters:
        exporter.shutdown()
    ((encoded,), (events,)) = joined.batches, plain.batches
    assert isinstance(encoded, EncodedEvents) and type(events) is list
    assert list(encoded) == events and len(events) == 3
