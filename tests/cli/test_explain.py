"""`otel-honeyhive explain FILE`: the example's spans, as a table and as JSON that agrees with what the exporter
ships (run as a user runs it: a subprocess, judged by its text and exit status)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.outputs.files import spans_to_otlp_json
from tests.support.collector_files import (
    VARIANTS,
    framed,
    proto_message,
    write_collector_file,
    write_jsonl,
    zstd,
)
from tests.support.event_files import sdk_spans
from tests.support.server import RunningServer, run_server
from tests.support.spans import batches

ROOT = Path(__file__).resolve().parents[2]
SPANS = {"rag-pipeline", "retrieve documents", "chat gpt-4o-mini", "execute_tool word_count"}


def explain_cli(*args: str, stdin: bytes | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "otel_honeyhive.cli", "explain", *args], input=stdin,
                          capture_output=True, timeout=30, env={"COLUMNS": "200", "PATH": "", **(env or {})},
                          cwd=ROOT)


def _rag_example() -> Any:
    spec = importlib.util.spec_from_file_location("rag_pipeline_example", ROOT / "examples" / "rag_pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[ReadableSpan], list[dict[str, Any]]]]:
    """The RAG example's workload, recorded once in memory and exported by the real exporter to a real local
    server: the spans, and the events the server stored."""
    example = _rag_example()
    with run_server(tmp_path_factory.mktemp("explain")) as server:
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "rag-demo"}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        provider.add_span_processor(SimpleSpanProcessor(HoneyHiveSpanExporter(server_url=server.url,
                                                                              project="explain")))
        tracer = provider.get_tracer("examples.rag_pipeline", "1.0")
        question = "How does the bridge relate OTel and HoneyHive?"
        with tracer.start_as_current_span("rag-pipeline") as root:
            root.set_attribute("traceloop.entity.input", json.dumps({"args": [question], "kwargs": {}}))
            context = example.retrieve(tracer, question)
            answer = example.generate(tracer, question, context)
            example.word_count(tracer, answer)
        provider.shutdown()
        spans = list(memory.get_finished_spans())
        yield spans, _stored(server, spans)


def _stored(server: RunningServer, spans: list[ReadableSpan]) -> list[dict[str, Any]]:
    from otel_honeyhive.mapper.identity import session_id_for_trace

    with server.store() as store:
        return store.session_events(session_id_for_trace(spans[0].context.trace_id))


@pytest.mark.slow
def test_the_table_names_every_span_and_decision(shipped: tuple[list[ReadableSpan], Any], tmp_path: Path) -> None:
    spans, _ = shipped
    path = tmp_path / "trace.otlp.json"
    path.write_bytes(json.dumps(spans_to_otlp_json(spans)).encode())
    done = explain_cli(str(path))
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    for name in SPANS:
        assert name in out
    assert "gen_ai.request.model" in out and "config.model" in out and "won" in out
    assert "`gen_ai.operation.name`='chat' → model" in out
    assert "4 spans, 4 events explained" in out


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["json", "jsonl", "protobuf", "protobuf-gzip", "stdin"])
def test_json_output_agrees_with_what_the_exporter_ships(
    shipped: tuple[list[ReadableSpan], list[dict[str, Any]]], tmp_path: Path, encoding: str,
) -> None:
    spans, stored = shipped
    request = json.dumps(spans_to_otlp_json(spans)).encode()
    proto = encode_spans(spans).SerializeToString()
    data = {"json": request, "jsonl": request + b"\n" + json.dumps(spans_to_otlp_json([])).encode() + b"\n",
            "protobuf": proto, "protobuf-gzip": gzip.compress(proto), "stdin": request}[encoding]
    path = tmp_path / "trace.bin"
    path.write_bytes(data)
    args = ("-", "--json", "--project", "explain") if encoding == "stdin" else (str(path), "--json", "--project",
                                                                              "explain")
    done = explain_cli(*args, stdin=data if encoding == "stdin" else None)
    assert done.returncode == 0, done.stderr.decode()
    explained = {e["event"]["event_id"]: e for e in json.loads(done.stdout)}
    assert {e["span_name"] for e in explained.values()} == SPANS
    assert set(explained) == {e["event_id"] for e in stored}
    for event in stored:
        mine = explained[event["event_id"]]["event"]
        for field in ("session_id", "parent_id", "event_type", "event_name", "config", "inputs", "outputs"):
            assert mine[field] == event[field], (event["event_name"], field)
        assert {k: v for k, v in mine["metadata"].items() if k in event["metadata"]} == {
            k: event["metadata"][k] for k in mine["metadata"] if k in event["metadata"]}


@pytest.mark.parametrize(("data", "message"), [
    (b"not otlp at all", "neither OTLP/JSON nor an OTLP protobuf ExportTraceServiceRequest"),
    (b'{"resourceSpans": 3}', "not an OTLP/JSON ExportTraceServiceRequest"),
    (b"\x1f\x8b broken gzip", "not a readable gzip file"),
    (b'{"foo": 1}', "not an OTLP/JSON ExportTraceServiceRequest: no resourceSpans"),
    (b'{"event_id": "a", "event_type": "session"}\n{"event_id": "b", "event_type": "tool"}\n',
     "no resourceSpans (a file of events? explain reads the OTLP spans events are made from)"),
])
def test_bad_input_is_one_line_naming_the_problem(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.otlp"
    path.write_bytes(data)
    done = explain_cli(str(path))
    err = done.stderr.decode()
    assert done.returncode == 1
    assert message in err and str(path) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_empty_request_has_no_spans_and_is_no_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.otlp.json"
    path.write_bytes(b"{}\n")
    done = explain_cli(str(path))
    assert done.returncode == 0 and "no spans" in done.stdout.decode()


def test_a_missing_file_is_named() -> None:
    done = explain_cli("/nonexistent/trace.json")
    assert done.returncode == 1
    assert done.stderr.decode().strip() == ("otel-honeyhive explain: /nonexistent/trace.json: cannot read it "
                                            "(No such file or directory)")


def _chat_turn() -> list[ReadableSpan]:
    """One turn of a chat app: a `turn` root with a chat child naming its conversation (OpenInference's
    `session.id`)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("turn"), tracer.start_as_current_span(
        "chat gpt-4o", attributes={"gen_ai.operation.name": "chat", "session.id": "support-chat-7"}
    ):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


@pytest.mark.slow
def test_each_span_says_how_its_trace_got_its_session_and_what_conversation_mode_would_do(tmp_path: Path) -> None:
    from otel_honeyhive.mapper.identity import session_id_for_conversation, session_id_for_trace

    spans = _chat_turn()
    path = tmp_path / "turn.otlp.json"
    path.write_bytes(json.dumps(spans_to_otlp_json(spans)).encode())
    by_trace, by_conversation = (json.loads(explain_cli(str(path), "--json", *mode).stdout)
                                 for mode in ((), ("--sessions", "conversation")))
    trace_session = session_id_for_trace(spans[0].context.trace_id)
    assert {e["session_reason"] for e in by_trace} == {
        f"the trace's root span → session {trace_session}; it names conversation 'support-chat-7' (`session.id` "
        "on span 'chat gpt-4o'): with sessions mode conversation its turns would share one session"}
    assert [e["event_type"] for e in by_trace] == ["session", "model"]
    assert {e["session_reason"] for e in by_conversation} == {
        f"conversation 'support-chat-7' (`session.id` on span 'chat gpt-4o') → session "
        f"{session_id_for_conversation('support-chat-7')}; the root span is a turn under it"}
    assert [e["event_type"] for e in by_conversation] == ["chain", "model"]
    table = explain_cli(str(path), "--sessions", "conversation")
    assert table.returncode == 0 and "session: conversation 'support-chat-7'" in table.stdout.decode()


def test_an_explicit_honeyhive_session_is_named_as_the_reason() -> None:
    from otel_honeyhive import explain

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    session = "0b7f3c1e-2d4a-4f6b-9c8d-1e2f3a4b5c6d"
    with provider.get_tracer("tests").start_as_current_span("turn", attributes={"honeyhive.session_id": session}):
        pass
    provider.shutdown()
    (explained,) = explain(memory.get_finished_spans(), sessions="conversation")
    assert explained.session_reason == (f"an explicit `honeyhive.session_id` → session {session}; the root span is "
                                        "an event under it")


@pytest.mark.slow
def test_a_span_filter_explains_what_the_exporter_with_it_ships(tmp_path: Path) -> None:
    """`--drop-span` as the exporter's and `convert`'s: the dropped span has no event and is counted."""
    spans = _chat_turn()
    path = tmp_path / "turn.otlp.json"
    path.write_bytes(json.dumps(spans_to_otlp_json(spans)).encode())
    explained = json.loads(explain_cli(str(path), "--json", "--drop-span", "chat*").stdout)
    assert [e["span_name"] for e in explained] == ["turn"]
    table = explain_cli(str(path), "--drop-span", "chat*")
    assert table.returncode == 0
    assert "2 spans, 1 event explained, 1 dropped by the span filter" in table.stdout.decode()
    bad = explain_cli(str(path), "--span-filter", "nonsense")
    assert bad.returncode == 2 and "--span-filter" in bad.stderr.decode() and b"Traceback" not in bad.stderr


@pytest.mark.slow
def test_with_masking_it_shows_the_masked_values_that_would_ship(tmp_path: Path) -> None:
    """`--redact` (else `$HH_REDACT`), as the exporter's and `convert`'s: never an unmasked value on screen."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("tests").start_as_current_span("ask", attributes={
            "input.value": '{"question": "mail zed.x@example.com"}', "user.email": "zed.x@example.com"}):
        pass
    provider.shutdown()
    path = tmp_path / "ask.otlp.json"
    path.write_bytes(json.dumps(spans_to_otlp_json(list(memory.get_finished_spans()))).encode())
    for shown in (explain_cli(str(path), "--redact", "email"), explain_cli(str(path), "--json", "--redact", "all"),
                  explain_cli(str(path), env={"HH_REDACT": "email"})):
        assert shown.returncode == 0, shown.stderr
        assert b"zed.x@example.com" not in shown.stdout and b"<email>" in shown.stdout
    assert b"zed.x@example.com" in explain_cli(str(path)).stdout, "without masking, the values as they are"
    bad = explain_cli(str(path), "--redact", "nonsense")
    assert bad.returncode == 2 and b"nonsense" in bad.stderr and b"Traceback" not in bad.stderr


# -- the Collector `file` exporter's files ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_collector_file_is_explained_as_the_same_requests_in_json_lines(tmp_path: Path, variant: str) -> None:
    """Length-prefixed protobuf, per-message zstd (JSON too) and whole-file zstd: the same explanation as the
    requests written as OTLP/JSON lines."""
    spans = sdk_spans(3, seed=2)
    chunks = batches(spans, 4)
    reference = explain_cli(str(write_jsonl(tmp_path / "reference.otlp.jsonl", chunks)), "--json")
    assert reference.returncode == 0, reference.stderr.decode()
    done = explain_cli(str(write_collector_file(tmp_path, chunks, variant)), "--json")
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == json.loads(reference.stdout)
    assert len(json.loads(done.stdout)) == len(spans)


@pytest.mark.parametrize(("entry", "message"), [
    (framed(b"\x0a\x05\x0a\x03\xff\xff\xff"), "entry 2: neither OTLP/JSON nor an OTLP protobuf "
                                              "ExportTraceServiceRequest"),
    (framed(zstd.compress(b"x" * 64)[:-3]), "entry 2: not a readable zstd frame (zstd frame cut short)"),
])
def test_a_bad_entry_of_a_collector_file_is_named(tmp_path: Path, entry: bytes, message: str) -> None:
    path = tmp_path / "traces.otlp.binpb"
    path.write_bytes(framed(proto_message(sdk_spans(1, seed=2))) + entry)
    done = explain_cli(str(path))
    err = done.stderr.decode()
    assert done.returncode == 1
    assert err.startswith(f"otel-honeyhive explain: {path}: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(("cut", "message"), [
    (10, "entry 2: file cut short: 6 of the entry's {size} bytes"),
    (2, "entry 2: file cut short: 2 of the 4 bytes of the entry's length"),
])
def test_a_collector_file_cut_short_is_named_as_convert_names_it(tmp_path: Path, cut: int, message: str) -> None:
    """Not "neither OTLP/JSON nor an OTLP protobuf request": its first entry says it is length-prefixed."""
    first, second = (framed(proto_message(sdk_spans(1, seed=seed))) for seed in (2, 3))
    path = tmp_path / "traces.otlp.binpb"
    path.write_bytes(first + second[:cut])
    done = explain_cli(str(path))
    err = done.stderr.decode()
    assert done.returncode == 1
    assert err == f"otel-honeyhive explain: {path}: {message.format(size=len(second) - 4)}\n", err
