"""A HoneyHive behind a gateway that refuses bodies over 64 KiB (413): every event of a 500-span export arrives,
through every path that sends bodies, and later requests fit without a 413.

The spans are LLM traces with a few KiB of prompt each, plus one trace whose prompt (256 KiB) is larger than the
limit alone: its event must arrive cut (`metadata.otel_honeyhive_truncated`), not be refused. Paths: the
exporter direct, the exporter with `spool_dir` (the spool shipper sends pre-encoded blocks), `otel-honeyhive
serve` forwarding with `--spool-dir`, `otel-honeyhive replay`, and the OTLP output of the reverse direction
against an OTLP receiver with the same limit. Each records its figures (413s count as faults).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_honeyhive import HoneyHiveSpanExporter, spans_to_events
from otel_honeyhive.outputs.honeyhive.client import HoneyHiveOutput
from otel_honeyhive.outputs.otlp import OtlpOutput
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.reliability.conftest import Servers
from tests.reliability.figures import FIGURES, StreamFigures
from tests.support.event_files import run_cli, write_ndjson
from tests.support.fake_honeyhive import FakeHoneyHive
from tests.support.fake_otlp import fake_otlp_http
from tests.support.metrics import scrape, value
from tests.support.spans import Recorder, agent_span, chat_span, retriever_span, tool_span, user_message
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # four paths, two servers started, thousands of requests

LIMIT = 64 * 1024
SPANS = 500
TRACES = SPANS // 5
HUGE = 256 * 1024
API_KEY = "hh-body-limit-key"
POLICY = RetryPolicy(deadline=30.0, initial_backoff=0.05, max_backoff=0.5)


def llm_spans(name: str) -> list[ReadableSpan]:
    """`TRACES` traces of five spans each (agent, retriever, chat with a tool under it, answer), with prompts of
    2-4 KiB; the first trace's prompt is `HUGE`, over the limit on its own. In export order (roots last)."""
    recorder = Recorder("body-limit", scope="tests.reliability")
    tracer = recorder.tracer
    for i in range(TRACES):
        prompt = "y" * HUGE if i == 0 else f"prompt {i} " + "x" * (2048 + 20 * i)
        with agent_span(tracer, f"{name}-{i}", f"question {i}"):
            with retriever_span(tracer, "a document " * 100):
                pass
            with chat_span(tracer, attributes={"gen_ai.input.messages": user_message(prompt),
                                               "gen_ai.usage.input_tokens": 100 + i}), tool_span(tracer):
                pass
            with chat_span(tracer, "gpt-4o-mini", name="answer"):
                pass
    return recorder.finish()


def expected_ids(spans: list[ReadableSpan]) -> list[str]:
    return [e["event_id"] for e in spans_to_events(spans)]


def arrived(honeyhive: FakeHoneyHive) -> list[str]:
    return [e["event_id"] for e in honeyhive.events]


def check_cut(honeyhive: FakeHoneyHive) -> None:
    """The event with the oversized prompt arrived, cut and marked."""
    cut = [e for e in honeyhive.events if "otel_honeyhive_truncated" in e.get("metadata", {})]
    assert cut, "the oversized event arrived cut"
    assert all(len(r.raw) <= LIMIT for r in honeyhive.batches if r.status == 200)


def record(scenario: str, spans: list[ReadableSpan], arrivals: list[str], refusals: int, detail: str) -> StreamFigures:
    figures = StreamFigures.tally(scenario, sent=len(spans), acknowledged=len(spans), expected=expected_ids(spans),
                                  arrived=arrivals, faults=refusals, detail=detail)
    FIGURES.streams.append(figures)
    return figures


def limited(honeyhive: FakeHoneyHive) -> FakeHoneyHive:
    honeyhive.max_body_bytes = LIMIT
    return honeyhive


def exporter_output(exporter: HoneyHiveSpanExporter) -> HoneyHiveOutput:
    output: Any = exporter._pipeline.delivery.output
    assert isinstance(output, HoneyHiveOutput)
    return output


@pytest.mark.parametrize("spooled", [False, True], ids=["direct", "spool_dir"])
def test_the_exporter_delivers_every_event_through_a_64_kib_limit(
    tmp_path: Path, honeyhive: FakeHoneyHive, spooled: bool
) -> None:
    limited(honeyhive)
    first, later = llm_spans("first"), llm_spans("later")
    spool = tmp_path / "spool"
    exporter = HoneyHiveSpanExporter(api_key=API_KEY, server_url=honeyhive.url, retry_policy=POLICY,
                                     spool_dir=spool if spooled else None)
    try:
        assert exporter.export(first) is SpanExportResult.SUCCESS
        assert exporter.force_flush(60_000)
        refusals = honeyhive.too_large
        assert exporter.export(later) is SpanExportResult.SUCCESS
        assert exporter.force_flush(60_000)
        output = exporter_output(exporter)
        limit = output.request_bytes_limit
    finally:
        exporter.shutdown()
    scenario = f"exporter {'with spool_dir' if spooled else 'direct'}, HoneyHive behind a 64 KiB body limit"
    figures = record(scenario, first + later, arrived(honeyhive), honeyhive.too_large,
                     f"{honeyhive.too_large} answers 413, all on the first export; requests then built under "
                     f"{limit} bytes; {len(honeyhive.batches)} requests in all")
    assert figures.lost == 0 and figures.duplicates == 0
    assert 0 < refusals <= 12 and honeyhive.too_large == refusals, "the second export met no 413"
    assert LIMIT // 2 <= limit <= LIMIT
    assert exporter.stats.events_failed == 0
    check_cut(honeyhive)
    if spooled:
        assert not pending_files(spool) and not (spool / "outbox" / "dead").exists()


def test_serve_forwarding_with_a_spool_delivers_every_event_through_a_64_kib_limit(
    tmp_path: Path, servers: Servers, honeyhive: FakeHoneyHive
) -> None:
    limited(honeyhive)
    first, later = llm_spans("serve"), llm_spans("serve-later")
    server = servers.start("--api-key", API_KEY, "--server-url", honeyhive.url, "--spool-dir",
                           str(tmp_path / "spool"), env={"HH_TIMEOUT": "30"})
    protobuf = {"Content-Type": "application/x-protobuf"}
    expected = set(expected_ids(first))
    response = requests.post(server.url + "/v1/traces", data=encode_spans(first).SerializeToString(),
                             headers=protobuf, timeout=30)
    assert response.status_code == 200, response.text
    wait_until(lambda: expected <= set(arrived(honeyhive)), 60, explain="every event of the first export",
               diagnose=server.stderr)
    refusals = honeyhive.too_large
    response = requests.post(server.url + "/v1/traces", data=encode_spans(later).SerializeToString(),
                             headers=protobuf, timeout=30)
    assert response.status_code == 200, response.text
    expected |= set(expected_ids(later))
    wait_until(lambda: expected <= set(arrived(honeyhive)), 60, explain="every event of the second export",
               diagnose=server.stderr)
    samples = scrape(server)
    limit = value(samples, "otel_honeyhive_output_request_limit_bytes")
    assert value(samples, "otel_honeyhive_output_too_large_total") == refusals
    assert value(samples, "otel_honeyhive_events_dead_lettered_total") == 0
    assert server.stderr().count("requests are now built under") == 1, server.stderr()
    figures = record("serve --spool-dir forwarding, HoneyHive behind a 64 KiB body limit", first + later,
                     arrived(honeyhive), honeyhive.too_large,
                     f"{honeyhive.too_large} answers 413, all on the first request; /metrics shows the limit "
                     f"learned, {limit:.0f} bytes")
    assert figures.lost == 0 and figures.duplicates == 0
    assert 0 < refusals <= 12 and honeyhive.too_large == refusals, "the second request met no 413"
    assert LIMIT // 2 <= limit <= LIMIT
    check_cut(honeyhive)


def test_replay_delivers_every_event_through_a_64_kib_limit(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    limited(honeyhive)
    spans = llm_spans("replay")
    path = tmp_path / "events.ndjson"
    write_ndjson(path, spans_to_events(spans))
    result = run_cli("replay", str(path), "--to", "honeyhive", "--server-url", honeyhive.url, "--api-key", API_KEY,
                     "--no-resume", "--batch-size", "500")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("requests are now built under") == 1, result.stderr
    figures = record("replay --to honeyhive, HoneyHive behind a 64 KiB body limit", spans, arrived(honeyhive),
                     honeyhive.too_large, f"{honeyhive.too_large} answers 413, {len(honeyhive.batches)} requests")
    assert figures.lost == 0 and figures.duplicates == 0
    assert 0 < honeyhive.too_large <= 12
    check_cut(honeyhive)


def test_the_otlp_output_delivers_every_span_through_a_64_kib_limit() -> None:
    first, later = llm_spans("otlp"), llm_spans("otlp-later")
    with fake_otlp_http(max_body_bytes=LIMIT) as receiver:
        output = OtlpOutput(receiver.url, policy=POLICY, remember_events=0)
        try:
            assert output.send(spans_to_events(first)).ok
            refusals = receiver.too_large
            assert output.send(spans_to_events(later)).ok
        finally:
            output.close()
        got = receiver.spans()
        arrivals = [span.span_id.hex() for span in got]
        expected = [format(s.context.span_id, "016x") for s in first + later]
        figures = StreamFigures.tally(
            "OTLP output (reverse direction), receiver behind a 64 KiB body limit", sent=len(expected),
            acknowledged=len(expected), expected=expected, arrived=arrivals, faults=receiver.too_large,
            detail=f"{receiver.too_large} answers 413, all on the first send; requests then built under "
                   f"{output.request_bytes_limit} bytes")
        FIGURES.streams.append(figures)
        assert figures.lost == 0 and figures.duplicates == 0
        assert 0 < refusals <= 12 and receiver.too_large == refusals, "the second send met no 413"
        assert all(len(r.body) <= LIMIT for r in receiver.requests if r.status == 200)
