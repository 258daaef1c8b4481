"""Issue 5, done when: events posted to the bridge's HoneyHive-compatible API arrive as spans at any OTLP endpoint.

The bridge (`serve --otlp-endpoint`) forwards to a second `otel-honeyhive serve` (whose store must then hold
exactly what a plain local-store server holds for the same requests), or to a fake OTLP receiver whose requests
are decoded with `opentelemetry.proto` and checked span by span. With `--spool-dir`, requests are acknowledged
while the receiver is down and the spans arrive once it is up, even across a crash of the bridge.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_honeyhive.server.config import ServerConfig
from tests.support.fake_otlp import attribute, fake_otlp_http, low64
from tests.support.server import RunningServer, free_port, run_server, serve_command, start_server
from tests.support.spans import Recorder, chat_span
from tests.support.waiting import wait_until

SOURCE = "forwarding-test"
T0 = 1_760_000_000_000.125


def api_calls(t0: float = T0) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, str]]:
    """What a HoneyHive SDK user sends: a session start, a single-session batch, one event whose body is a
    JSON string (as the API page has it), and a PUT. Explicit ids and times, so two servers build the same
    events. Returns the calls and the ids by role."""
    ids = {role: str(uuid.uuid4()) for role in ("session", "chain", "model", "tool", "late")}
    sid = ids["session"]
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/session/start", {"session": {
            "session_id": sid, "session_name": "support-chat", "inputs": {"user": "Zoë"},
            "metadata": {"customer": "acme"}, "user_properties": {"plan": "pro"}, "start_time": t0,
        }}),
        ("POST", "/events/batch", {"is_single_session": True, "session_properties": {"session_id": sid}, "events": [
            {"event_id": ids["chain"], "parent_id": sid, "event_type": "chain", "event_name": "agent",
             "inputs": {"question": "2+2?"}, "outputs": {"answer": "4"}, "start_time": t0 + 10,
             "end_time": t0 + 1400.5},
            {"event_id": ids["model"], "parent_id": ids["chain"], "event_type": "model", "event_name": "openai.chat",
             "config": {"model": "gpt-4o", "provider": "openai"},
             "inputs": {"chat_history": [{"role": "user", "content": "2+2?"}]},
             "outputs": {"role": "assistant", "content": "4"},
             "metadata": {"prompt_tokens": 7, "completion_tokens": 1}, "start_time": t0 + 20, "duration": 800.25},
            {"event_id": ids["tool"], "parent_id": ids["chain"], "event_type": "tool", "event_name": "search",
             "inputs": {"query": "2+2"}, "error": "search backend timed out", "start_time": t0 + 900,
             "end_time": t0 + 1300},
        ]}),
        ("POST", "/events", {"event": json.dumps({
            "event_id": ids["late"], "session_id": sid, "parent_id": sid, "event_type": "tool",
            "event_name": "notify", "inputs": {"to": "ops"}, "start_time": t0 + 1450, "end_time": t0 + 1460,
        })}),
        ("PUT", "/events", {"event_id": ids["model"], "metadata": {"judge": "correct"}, "feedback": {"rating": 5},
                            "outputs": {"role": "assistant", "content": "four"}}),
    ]
    return calls, ids


def replay(server: RunningServer, calls: list[tuple[str, str, dict[str, Any]]]) -> list[requests.Response]:
    return [requests.request(method, server.url + path, json=body, timeout=10) for method, path, body in calls]


def events_in(server: RunningServer, ids: dict[str, str], until: Any = None,
              timeout: float = 15.0) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def all_arrived() -> bool:
        nonlocal found
        if not server.db_path.exists():
            return False
        with server.store() as store:
            found = {i: e for i in ids.values() if (e := store.get_event(i)) is not None}
        return len(found) == len(ids) and (until is None or until(found))

    wait_until(all_arrived, timeout, explain=f"all {len(ids)} events stored", diagnose=server.stderr)
    return found


def updated(ids: dict[str, str]) -> Any:
    return lambda found: "judge" in found[ids["model"]].get("metadata", {})


def differences(expected: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for event_id, event in expected.items():
        back = got[event_id]
        for key in sorted(set(event) | set(back)):
            a, b = event.get(key, "<missing>"), back.get(key, "<missing>")
            if a != b or type(a) is not type(b):
                out.append(f"{event_id}.{key}: {a!r} != {b!r}")
    return out


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[RunningServer]:
    (tmp_path / "receiver").mkdir()
    with run_server(tmp_path / "receiver", "--source", SOURCE, "--hold-timeout", "0.3", grpc=True) as server:
        yield server


# -- to a second bridge: the events come back as a local store would have kept them -----------------------------


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_events_posted_to_the_api_arrive_at_an_otlp_receiver_unchanged(
    tmp_path: Path, receiver: RunningServer, protocol: str
) -> None:
    endpoint = receiver.url if protocol == "http/protobuf" else receiver.grpc_target
    calls, ids = api_calls()
    unknown = {"event_id": str(uuid.uuid4()), "metadata": {"a": 1}}
    for name in ("bridge", "reference"):
        (tmp_path / name).mkdir()
    with ExitStack() as stack:
        bridge = stack.enter_context(run_server(
            tmp_path / "bridge", "--source", SOURCE, "--otlp-endpoint", endpoint, "--otlp-protocol", protocol,
        ))
        reference = stack.enter_context(run_server(tmp_path / "reference", "--source", SOURCE))
        for sent, kept in zip(replay(bridge, calls), replay(reference, calls), strict=True):
            assert (sent.status_code, sent.json()) == (kept.status_code, kept.json()) == (200, kept.json())
        missing = requests.put(bridge.url + "/events", json=unknown, timeout=10)
        assert missing.status_code == 404
        assert missing.json()["error"] == (
            f"event {unknown['event_id']} is not known to this bridge; OTLP spans cannot be updated after export"
        )
        expected = events_in(reference, ids)
        got = events_in(receiver, ids, until=updated(ids))
        assert f"output: OTLP ({protocol}) at {endpoint}" in bridge.stderr()
    assert expected[ids["model"]]["metadata"]["judge"] == "correct"  # the PUT is part of what must arrive
    assert differences(expected, got) == []


# -- to a fake OTLP receiver: the spans themselves ----------------------------------------------------------------


def ns(ms: float) -> int:
    return int(Decimal(ms) * 1_000_000)


@pytest.mark.slow
def test_the_spans_carry_ids_parents_names_times_status_and_genai_attributes(tmp_path: Path) -> None:
    calls, ids = api_calls()
    with fake_otlp_http() as fake:
        endpoint = f"http://user:pw@127.0.0.1:{fake.port}"
        with run_server(tmp_path, "--source", SOURCE, "--otlp-endpoint", endpoint,
                        "--otlp-header", "x-api-key=sekrit-123") as bridge:
            assert [r.status_code for r in replay(bridge, calls[:3])] == [200, 200, 200]
            stderr = bridge.stderr()
        spans = {s.span_id: s for s in fake.spans()}
        request = fake.requests[0]
    assert request.path == "/v1/traces"
    assert request.headers["x-api-key"] == "sekrit-123"
    assert f"output: OTLP (http/protobuf) at http://***@127.0.0.1:{fake.port}" in stderr
    assert "sekrit" not in stderr and "pw@" not in stderr

    sid = ids["session"]
    trace_id = uuid.UUID(sid).int.to_bytes(16, "big")
    assert len(spans) == 5
    expected = {  # role: (name, parent role, start ms, end ms)
        "session": ("support-chat", None, T0, T0),
        "chain": ("agent", "session", T0 + 10, T0 + 1400.5),
        "model": ("openai.chat", "chain", T0 + 20, T0 + 820.25),
        "tool": ("search", "chain", T0 + 900, T0 + 1300),
        "late": ("notify", "session", T0 + 1450, T0 + 1460),
    }
    for role, (name, parent, start, end) in expected.items():
        span = spans[low64(ids[role]).to_bytes(8, "big")]
        assert span.trace_id == trace_id, role
        assert span.parent_span_id == (low64(ids[parent]).to_bytes(8, "big") if parent else b""), role
        assert span.name == name
        assert abs(span.start_time_unix_nano - ns(start)) < 1000, role  # within a microsecond of the ms time
        assert abs(span.end_time_unix_nano - ns(end)) < 1000, role
        if role == "tool":
            assert span.status.code == Status.STATUS_CODE_ERROR
            assert span.status.message == "search backend timed out"
        else:
            assert span.status.code == Status.STATUS_CODE_UNSET, role
    model = spans[low64(ids["model"]).to_bytes(8, "big")]
    assert attribute(model, "gen_ai.request.model") == "gpt-4o"
    assert attribute(model, "gen_ai.provider.name") == "openai"
    assert attribute(model, "gen_ai.usage.input_tokens") == 7
    assert attribute(model, "gen_ai.usage.output_tokens") == 1
    assert json.loads(attribute(model, "gen_ai.input.messages")) == [
        {"role": "user", "parts": [{"type": "text", "content": "2+2?"}]}
    ]
    assert attribute(spans[low64(ids["tool"]).to_bytes(8, "big")], "gen_ai.request.model") is None


# -- with a spool: acknowledged while the receiver is down, delivered once it is up ------------------------------


@pytest.mark.slow
def test_with_a_spool_requests_are_acknowledged_while_the_receiver_is_down(tmp_path: Path) -> None:
    """OTLP/HTTP: the receiver (a fake, so it can take the port the bridge was told) starts after the posts."""
    calls, ids = api_calls()
    port = free_port()
    with run_server(tmp_path, "--source", SOURCE, "--otlp-endpoint", f"http://127.0.0.1:{port}",
                    "--spool-dir", str(tmp_path / "spool")) as bridge:
        started = time.monotonic()
        assert [r.status_code for r in replay(bridge, calls)] == [200] * 4
        assert time.monotonic() - started < 2.0, "acknowledged without waiting for the receiver"
        time.sleep(0.3)
        with fake_otlp_http(port) as fake:
            wait_until(lambda: len({s.span_id for s in fake.spans()}) >= 5, 20, explain="the 5 spooled spans",
                       diagnose=bridge.stderr)
            # The PUT was spooled after the events it patches, so it is re-sent after them.
            model_id = low64(ids["model"]).to_bytes(8, "big")
            wait_until(lambda: any("judge" in (attribute(s, "honeyhive_metadata") or "")
                                   for s in fake.spans() if s.span_id == model_id), 20,
                       explain="the spooled update of the model event", diagnose=bridge.stderr)
    assert {s.span_id for s in fake.spans()} == {low64(i).to_bytes(8, "big") for i in ids.values()}


@pytest.mark.slow
def test_with_a_spool_acknowledged_events_survive_a_crash_and_reach_a_grpc_receiver(tmp_path: Path) -> None:
    """OTLP/gRPC to a second bridge that is down; the first bridge is killed (SIGKILL) before delivering, and
    restarted: what it acknowledged still arrives, exactly as a local store would have kept it."""
    calls, ids = api_calls()
    calls = calls[:3]  # no PUT: after a crash the bridge no longer remembers the events an update would patch
    port = free_port()
    for name in ("bridge", "receiver", "reference"):
        (tmp_path / name).mkdir()
    args = ("--source", SOURCE, "--otlp-protocol", "grpc", "--otlp-endpoint", f"127.0.0.1:{port}",
            "--spool-dir", str(tmp_path / "spool"))
    first = start_server(tmp_path / "bridge", *args)
    try:
        assert [r.status_code for r in replay(first, calls)] == [200] * 3
    finally:
        first.stop(signal.SIGKILL)
    with ExitStack() as stack:
        # The receiver takes the port the bridge was told (its --grpc-port comes last and wins).
        receiver = stack.enter_context(run_server(
            tmp_path / "receiver", "--source", SOURCE, "--hold-timeout", "0.3", "--grpc-port", str(port),
        ))
        stack.enter_context(run_server(tmp_path / "bridge", *args))
        reference = stack.enter_context(run_server(tmp_path / "reference", "--source", SOURCE))
        assert [r.status_code for r in replay(reference, calls)] == [200] * 3
        got = events_in(receiver, ids)
        expected = events_in(reference, ids)
    assert differences(expected, got) == []


# -- the command line ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--otlp-endpoint", "http://127.0.0.1:4318", "--api-key", "hh-key"],
     "--otlp-endpoint cannot be combined with --api-key: a server has one output"),
    (["--otlp-protocol", "grpc"], "--otlp-protocol needs --otlp-endpoint"),
    (["--otlp-endpoint", "127.0.0.1:4318"], "--otlp-endpoint must start with http:// or https://"),
    (["--otlp-endpoint", "http://c", "--otlp-header", "sekrit-without-equals"],
     "--otlp-header must be KEY=VALUE (an item has no '=')"),
])
def test_bad_otlp_flags_are_refused_before_starting(args: list[str], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_HONEYHIVE_"))}
    result = subprocess.run(serve_command("--http-port", "0", *args), capture_output=True, text=True, timeout=30,
                            env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "sekrit" not in result.stderr and "hh-key" not in result.stderr


def test_the_config_keeps_header_values_out_of_its_repr_and_counts_otlp_as_remote() -> None:
    config = ServerConfig.resolve(
        otlp_endpoint="https://collector.example:4318/", otlp_headers=["Authorization=Bearer sekrit-9"], environ={},
    )
    assert config.otlp is not None and config.remote and config.honeyhive is None
    assert config.otlp.endpoint == "https://collector.example:4318"
    assert config.otlp.headers == {"Authorization": "Bearer sekrit-9"}
    assert "sekrit" not in repr(config)
    with pytest.raises(ValueError, match=r"cannot be combined with an API key from \$HH_API_KEY"):
        ServerConfig.resolve(otlp_endpoint="http://c:4318", environ={"HH_API_KEY": "hh-key"})
    grpc_config = ServerConfig.resolve(otlp_endpoint="[::1]:4317", otlp_protocol="grpc", environ={})
    assert grpc_config.otlp is not None and grpc_config.otlp.protocol == "grpc"
    assert not ServerConfig.resolve(environ={}).remote


@pytest.mark.slow
def test_spans_received_over_otlp_leave_with_their_original_ids(tmp_path: Path) -> None:
    """OTLP in, OTLP out: the events the bridge maps keep the OpenTelemetry ids in their metadata, and the
    spans it sends on carry exactly those ids again (so a backend sees the application's trace)."""
    recorder = Recorder(scope="tests.forwarding")
    with recorder.tracer.start_as_current_span("agent"), chat_span(recorder.tracer):
        pass
    originals = recorder.spans()
    with fake_otlp_http() as fake, run_server(tmp_path, "--otlp-endpoint", fake.url) as bridge:
        exporter = HttpSpanExporter(endpoint=bridge.url + "/v1/traces")
        assert exporter.export(originals) is SpanExportResult.SUCCESS
        exporter.shutdown()  # type: ignore[no-untyped-call]
        wait_until(lambda: len(fake.spans()) >= len(originals), 10, explain="every span forwarded",
                   diagnose=bridge.stderr)
    sent = {(s.context.trace_id, s.context.span_id, s.parent.span_id if s.parent else 0, s.name) for s in originals}
    got = {
        (int.from_bytes(s.trace_id, "big"), int.from_bytes(s.span_id, "big"),
         int.from_bytes(s.parent_span_id, "big") if s.parent_span_id else 0, s.name)
        for s in fake.spans()
    }
    assert got == sent
