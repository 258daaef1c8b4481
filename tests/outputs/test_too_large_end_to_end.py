"""Events too large for a receiver, end to end: through the exporter (direct and with `spool_dir`), the spool's dead
letters and `replay`, against the fake HoneyHive behind a body limit (`max_body_bytes`).

An event whose size is in numbers (an embedding span's vectors) is cut like one whose size is in text, and arrives.
One event that nothing can make small enough (its size in `children_ids`, never cut) is refused alone: the other
events of its batch arrive, only it is counted as failed, and only it is set aside in `dead/`.
"""

from __future__ import annotations

import random
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.util.types import AttributeValue

from otel_honeyhive import HoneyHiveSpanExporter, spans_to_events
from otel_honeyhive.core.results import Update
from otel_honeyhive.outputs.honeyhive.client import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.shipping.dead_letters import redrive_dead
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.event_files import run_cli, write_ndjson
from tests.support.fake_honeyhive import FakeHoneyHive
from tests.support.spans import Recorder, agent_span, chat_span, tool_span, user_message

POLICY = RetryPolicy(deadline=10.0, initial_backoff=0.05, max_backoff=0.5)
FAN_OUT = 150
"""Children of the fan-out span: its event's `children_ids` (about 6 KB) alone pass a 4 KiB limit."""


def with_fan_out(name: str, fan_out: bool = True) -> list[ReadableSpan]:
    """Three LLM traces, the second with a `fan-out` span that has `FAN_OUT` tool calls under it."""
    recorder = Recorder(name, scope="tests")
    tracer = recorder.tracer
    for i in range(3):
        with agent_span(tracer, f"{name}-{i}", f"question {i}"):
            with chat_span(tracer, attributes={"gen_ai.input.messages": user_message(f"prompt {i}")}):
                pass
            if i == 1 and fan_out:
                with tracer.start_as_current_span("fan-out"):
                    for _ in range(FAN_OUT):
                        with tool_span(tracer):
                            pass
    return recorder.finish()


def fan_out_id(spans: list[ReadableSpan]) -> str:
    (event,) = [e for e in spans_to_events(spans) if e["event_name"] == "fan-out"]
    return str(event["event_id"])


def ids(spans: list[ReadableSpan]) -> list[str]:
    return [e["event_id"] for e in spans_to_events(spans)]


def arrived(honeyhive: FakeHoneyHive) -> set[str]:
    return {e["event_id"] for e in honeyhive.events}


def test_an_embedding_span_too_large_for_the_receiver_arrives_with_its_vectors_shortened(
    honeyhive: FakeHoneyHive, tmp_path: Path
) -> None:
    honeyhive.max_body_bytes = 64 * 1024
    rnd = random.Random(1)
    recorder = Recorder("embeddings", scope="tests")
    for i in range(8):
        with agent_span(recorder.tracer, f"e-{i}", "q"):
            attributes: dict[str, AttributeValue] = {"openinference.span.kind": "EMBEDDING",
                                                     "embedding.model_name": "text-embedding-3-small"}
            for k in range(10 if i == 4 else 1):
                attributes[f"embedding.embeddings.{k}.embedding.text"] = f"chunk {k}"
                attributes[f"embedding.embeddings.{k}.embedding.vector"] = [rnd.uniform(-1, 1) for _ in range(1536)]
            with recorder.tracer.start_as_current_span("embed", attributes=attributes):
                pass
    spans = recorder.finish()
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, retry_policy=POLICY,
                                     spool_dir=tmp_path / "spool")
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.force_flush(30_000)
    finally:
        exporter.shutdown()
    assert arrived(honeyhive) == set(ids(spans))
    (cut,) = [e for e in honeyhive.events if "otel_honeyhive_truncated" in e["metadata"]]
    assert cut["metadata"]["otel_honeyhive_truncated"] == ["outputs.embeddings"]
    assert cut["outputs"]["embeddings"][-1].startswith("…[truncated ")
    assert not (tmp_path / "spool" / "outbox" / "dead").exists()


def test_the_exporter_counts_only_the_event_refused_as_failed(honeyhive: FakeHoneyHive) -> None:
    honeyhive.max_body_bytes = 4096
    spans = with_fan_out("direct")
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, retry_policy=POLICY)
    try:
        assert exporter.export(spans) is SpanExportResult.FAILURE
        stats = exporter.stats
    finally:
        exporter.shutdown()
    refused = fan_out_id(spans)
    assert arrived(honeyhive) == set(ids(spans)) - {refused}, "every other event, those after it too"
    assert (stats.events_failed, stats.events_delivered) == (1, len(spans) - 1)


def test_with_a_spool_only_the_event_refused_goes_to_dead_letters_and_redrive_sends_it_later(
    honeyhive: FakeHoneyHive, tmp_path: Path
) -> None:
    honeyhive.max_body_bytes = 4096
    spans = with_fan_out("spooled")
    spool = tmp_path / "spool"
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, retry_policy=POLICY, spool_dir=spool)
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.force_flush(30_000)
        delivery = exporter._pipeline.delivery.stats.shipper
    finally:
        exporter.shutdown()
    refused = fan_out_id(spans)
    assert arrived(honeyhive) == set(ids(spans)) - {refused}
    (letter,) = (spool / "outbox" / "dead").glob("*.rec")
    assert [e["event_id"] for e in SpoolRecord.decode(letter.read_bytes()).events] == [refused]
    assert "too large" in letter.with_suffix(".reason").read_text()
    assert delivery is not None
    assert (delivery.dead_lettered, delivery.dead_lettered_events, delivery.delivered_events) == (
        1, 1, len(spans) - 1)
    honeyhive.max_body_bytes = None  # the gateway's limit raised: the letter goes through
    run = run_cli("spool", "redrive", str(spool), "--dead", "--server-url", honeyhive.url, "--api-key", "k")
    assert run.returncode == 0, run.stderr
    assert refused in arrived(honeyhive) and not list((spool / "outbox" / "dead").glob("*.rec"))


def test_a_dead_letter_refused_again_in_part_keeps_only_what_was_refused(
    honeyhive: FakeHoneyHive, tmp_path: Path
) -> None:
    honeyhive.max_body_bytes = 4096
    spans = with_fan_out("letter")
    events = spans_to_events(spans)
    dead = tmp_path / "outbox" / "dead"
    dead.mkdir(parents=True)
    letter = dead / "1-abcd-000000000001.rec"
    letter.write_bytes(SpoolRecord.of_events(events).encode())
    output = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, environ={}), POLICY)
    try:
        report = redrive_dead(tmp_path / "outbox", output)
    finally:
        output.close()
    refused = fan_out_id(spans)
    assert arrived(honeyhive) == set(ids(spans)) - {refused}
    assert [e["event_id"] for e in SpoolRecord.decode(letter.read_bytes()).events] == [refused]
    assert report.delivered_events == len(events) - 1 and len(report.refused) == 1


def test_replay_sends_every_other_event_and_names_the_one_refused(honeyhive: FakeHoneyHive, tmp_path: Path) -> None:
    honeyhive.max_body_bytes = 4096
    spans = with_fan_out("replay")
    path = tmp_path / "events.ndjson"
    write_ndjson(path, spans_to_events(spans))
    run = run_cli("replay", str(path), "--to", "honeyhive", "--server-url", honeyhive.url, "--api-key", "k",
                  "--no-resume")
    refused = fan_out_id(spans)
    assert run.returncode == 1
    assert "1 event(s) refused for good, the rest delivered" in run.stderr and refused in run.stderr
    assert arrived(honeyhive) == set(ids(spans)) - {refused}


def test_a_spooled_update_too_large_for_the_receiver_is_cut_and_delivered_not_dead_lettered(
    honeyhive: FakeHoneyHive, tmp_path: Path
) -> None:
    """As `serve --spool-dir` forwards `PUT /events`: the update is made small enough, never set aside."""
    honeyhive.max_body_bytes = 64 * 1024
    event = spans_to_events(with_fan_out("update", fan_out=False))[0]
    output = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, environ={}), POLICY)
    delivery = Delivery.spooled(output, tmp_path / "spool", POLICY)
    try:
        assert delivery.submit_events([event]).ok
        assert delivery.submit_update(Update(event["event_id"], {"outputs": {"content": "c" * 100_000}})).ok
        assert delivery.flush(30)
        stats = delivery.stats.shipper
    finally:
        delivery.close()
    assert stats is not None and stats.dead_lettered == 0
    (put,) = [r for r in honeyhive.requests if r.method == "PUT" and r.status == 200]
    assert put.body["metadata"]["otel_honeyhive_truncated"] == ["outputs.content"]
    assert not (tmp_path / "spool" / "dead").exists()
